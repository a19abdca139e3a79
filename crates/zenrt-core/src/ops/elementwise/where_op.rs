//! Where: `condition ? X : Y`, all three numpy-broadcast together.

use super::common::{infer_broadcast, named, same_dtypes, ternary_map};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_all, DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Where;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Where))
}

impl Op for Where {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let c = input(inputs, 0, "Where")?;
        let x = input(inputs, 1, "Where")?;
        let y = input(inputs, 2, "Where")?;
        if c.dtype() != DType::Bool {
            return Err(Error::Invalid(format!("Where: condition must be bool, got {}", c.dtype())));
        }
        let dt = same_dtypes("Where", &[x, y])?;
        let out = dispatch_all!(dt, T => ternary_map::<bool, T, T, T>(c, x, y, |k, a, b| if k { a } else { b }));
        Ok(vec![named("Where", out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dt = inputs.get(1).and_then(|i| i.info).and_then(|i| i.dtype);
        let mut v = infer_broadcast(inputs, dt);
        if let Some(vi) = v.first_mut() {
            vi.dtype = dt.or_else(|| inputs.get(2).and_then(|i| i.info).and_then(|i| i.dtype));
        }
        Ok(v)
    }
}
