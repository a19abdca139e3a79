//! Binarizer (ai.onnx.ml): `1` where `X > threshold`, else `0`, in the input's type.

use crate::ops::util::unary_map;
use crate::ops::{input, util::same_as_input0, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_numeric, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Binarizer {
    threshold: f64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Binarizer { threshold: cx.float("threshold", 0.0)? as f64 }))
}

impl Op for Binarizer {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Binarizer")?;
        let th = self.threshold;
        let y = dispatch_numeric!(x.dtype(), T => unary_map::<T, T>(x, |v| if v.to_f64() > th { T::one() } else { T::zero() }))
            .map_err(|e| match e {
                Error::UnsupportedDType { dtype, .. } => Error::UnsupportedDType { op: "Binarizer".into(), dtype },
                e => e,
            })?;
        Ok(vec![y])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
