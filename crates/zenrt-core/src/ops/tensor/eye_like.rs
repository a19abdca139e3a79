//! EyeLike: a 2-D tensor shaped like the input with ones on diagonal `k`, of `dtype`
//! (default: the input's).

use super::common::{out, shape_of};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, dispatch_all, DType, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct EyeLike {
    pub dtype: Option<DType>,
    pub k: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let dtype = match cx.int_opt("dtype")? {
        Some(c) => {
            Some(DType::from_onnx_code(c as i32).ok_or_else(|| Error::Unsupported(format!("EyeLike dtype code {c}")))?)
        }
        None => None,
    };
    Ok(Arc::new(EyeLike { dtype, k: cx.int("k", 0)? }))
}

fn eye<T: Elem>(n: usize, m: usize, k: i64) -> Result<Tensor> {
    let mut v = vec![T::zero(); n * m];
    for i in 0..n {
        let j = i as i64 + k;
        if j >= 0 && (j as usize) < m {
            v[i * m + j as usize] = T::one();
        }
    }
    Tensor::from_vec(vec![n, m], v)
}

impl Op for EyeLike {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "EyeLike")?;
        let &[n, m] = x.shape() else { bail!("EyeLike: input must be 2-D, got {:?}", x.shape()) };
        let dt = self.dtype.unwrap_or(x.dtype());
        Ok(vec![dispatch_all!(dt, T => eye::<T>(n, m, self.k))?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dt = self.dtype.or_else(|| super::common::dtype_of(inputs, 0));
        Ok(out(dt, shape_of(inputs, 0)))
    }
}
