//! NonZero: int64 `[rank, nnz]` coordinates of the non-zero elements, row-major order
//! (a scalar counts as rank 1).

use super::common::next_index;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_all, DType, Dim, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct NonZero;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(NonZero))
}

fn nonzero_flags<T: Elem>(x: &Tensor) -> Result<Vec<bool>> {
    Ok(x.as_slice::<T>()?.iter().map(|&v| v != T::zero()).collect())
}

impl Op for NonZero {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "NonZero")?;
        let flags = dispatch_all!(x.dtype(), T => nonzero_flags::<T>(x))?;
        let shape: Vec<usize> = if x.rank() == 0 { vec![1] } else { x.shape().to_vec() };
        let r = shape.len();
        let nnz = flags.iter().filter(|&&f| f).count();
        let mut out = vec![0i64; r * nnz];
        let mut idx = vec![0usize; r];
        let mut k = 0;
        for &f in &flags {
            if f {
                for (a, &i) in idx.iter().enumerate() {
                    out[a * nnz + k] = i as i64;
                }
                k += 1;
            }
            next_index(&mut idx, &shape);
        }
        Ok(vec![Tensor::from_vec(vec![r, nnz], out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let r = inputs.first().and_then(|i| i.info).and_then(|i| i.shape.as_ref()).map(|s| s.len().max(1));
        Ok(super::common::out(Some(DType::I64), r.map(|r| vec![Dim::Known(r), Dim::Unknown])))
    }
}
