//! SplitToSequence: splits a tensor along `axis` into a sequence. `split` absent: pieces of
//! size 1 (squeezed when `keepdims` = 0); a scalar: pieces of that size (the last one may be
//! smaller); 1-D: the piece sizes, which must add up to the axis length.

use super::common::{narrow, opt_tensor_in, seq, tensor_in, values_only};
use crate::ops::util::norm_axis;
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, ensure, Result, Tensor, Value, ValueInfo, ValueKind};
use std::sync::Arc;

const OP: &str = "SplitToSequence";

#[derive(Debug)]
pub struct SplitToSequence {
    axis: i64,
    keepdims: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SplitToSequence { axis: cx.int("axis", 0)?, keepdims: cx.int("keepdims", 1)? != 0 }))
}

/// The piece lengths along an axis of length `dim`.
pub fn piece_lengths(split: Option<&Tensor>, dim: usize) -> Result<Vec<usize>> {
    let Some(s) = split else { return Ok(vec![1; dim]) };
    ensure!(s.dtype().is_int(), "{OP}: split must be integers, got {}", s.dtype());
    let vals = s.to_i64_vec();
    match s.rank() {
        0 => {
            let n = vals[0];
            ensure!(n > 0, "{OP}: split size must be positive, got {n}");
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(dim.max(1));
            let mut v = vec![n; dim / n];
            if !dim.is_multiple_of(n) {
                v.push(dim % n);
            }
            Ok(v)
        }
        1 => {
            let mut total: usize = 0;
            let mut v = Vec::with_capacity(vals.len());
            for &n in &vals {
                let Ok(n) = usize::try_from(n) else { bail!("{OP}: negative split length {n}") };
                total = total.saturating_add(n);
                v.push(n);
            }
            ensure!(total == dim, "{OP}: split lengths {vals:?} add up to {total}, the axis has length {dim}");
            Ok(v)
        }
        r => bail!("{OP}: split must be a scalar or 1-D, got rank {r}"),
    }
}

impl Op for SplitToSequence {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only(OP))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = tensor_in(inputs, 0, OP)?;
        let split = opt_tensor_in(inputs, 1, OP)?;
        ensure!(x.rank() > 0, "{OP}: input must have rank >= 1");
        let axis = norm_axis(self.axis, x.rank())?;
        let lens = piece_lengths(split, x.shape()[axis])?;
        let squeeze = split.is_none() && !self.keepdims;
        let mut out = Vec::with_capacity(lens.len());
        let mut start = 0;
        for len in lens {
            let mut piece = narrow(x, axis, start, len)?;
            if squeeze {
                let mut shape = piece.shape().to_vec();
                shape.remove(axis);
                piece = piece.reshape(shape)?;
            }
            out.push(piece);
            start += len;
        }
        Ok(vec![seq(out)])
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dtype = inputs.first().and_then(|i| i.info).and_then(|v| v.dtype);
        let mut vi = ValueInfo::new("", dtype, None);
        vi.kind = ValueKind::Sequence;
        Ok(vec![vi])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(piece_lengths(None, 3).unwrap(), vec![1, 1, 1]);
        assert_eq!(piece_lengths(Some(&Tensor::scalar(2i64)), 5).unwrap(), vec![2, 2, 1]);
        assert_eq!(piece_lengths(Some(&Tensor::scalar(2i64)), 4).unwrap(), vec![2, 2]);
        assert_eq!(piece_lengths(Some(&Tensor::scalar(7i64)), 4).unwrap(), vec![4]);
        assert!(piece_lengths(Some(&Tensor::scalar(0i64)), 4).is_err());
        let t = Tensor::from_vec(vec![2], vec![1i32, 3]).unwrap();
        assert_eq!(piece_lengths(Some(&t), 4).unwrap(), vec![1, 3]);
        assert!(piece_lengths(Some(&t), 5).is_err());
        let neg = Tensor::from_vec(vec![2], vec![-1i64, 5]).unwrap();
        assert!(piece_lengths(Some(&neg), 4).is_err());
    }
}
