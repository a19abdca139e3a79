//! ConstantOfShape: a tensor of the shape given by the int64 input, filled with the one-element
//! `value` attribute (default float32 0).

use super::common::{const_ints, dims_from, known_dims, out};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, dispatch_all, Dim, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct ConstantOfShape {
    pub value: Tensor,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let value = match cx.tensor_opt("value")? {
        Some(t) => {
            if t.len() != 1 {
                return Err(crate::Error::Attr {
                    attr: "value".into(),
                    msg: format!("must have one element, has {}", t.len()),
                });
            }
            t.clone()
        }
        None => Tensor::scalar(0f32),
    };
    Ok(Arc::new(ConstantOfShape { value }))
}

fn fill<T: Elem>(v: &Tensor, shape: Vec<usize>, n: usize) -> Result<Tensor> {
    let x = v.as_slice::<T>()?[0];
    Tensor::from_vec(shape, vec![x; n])
}

impl Op for ConstantOfShape {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let s = input(inputs, 0, "ConstantOfShape")?;
        if s.rank() > 1 {
            bail!("ConstantOfShape: shape input must be 1-D");
        }
        let shape = dims_from(&ints_of(s)?, "ConstantOfShape")?;
        let n = checked_numel(&shape, self.value.dtype(), "ConstantOfShape output")?;
        Ok(vec![dispatch_all!(self.value.dtype(), T => fill::<T>(&self.value, shape, n))?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let shape = match const_ints(inputs, 0) {
            Some(v) if v.iter().all(|&d| d >= 0) => {
                Some(known_dims(&v.iter().map(|&d| d as usize).collect::<Vec<_>>()))
            }
            _ => inputs.first().and_then(|i| i.info).and_then(|i| i.shape.as_ref()).and_then(|s| match s.first() {
                Some(Dim::Known(n)) if *n <= 64 => Some(vec![Dim::Unknown; *n]),
                _ => None,
            }),
        };
        Ok(out(Some(self.value.dtype()), shape))
    }
}
