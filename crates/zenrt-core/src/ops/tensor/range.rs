//! Range: `start, start+delta, ...` up to (excluding) `limit`; integers exact, floats in f64.

use super::common::{dtype_of, out};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, dispatch_numeric, Dim, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Range;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Range))
}

fn scalar_of(t: &Tensor, what: &str) -> Result<Tensor> {
    if t.len() != 1 {
        bail!("Range: {what} must be a scalar, got shape {:?}", t.shape());
    }
    Ok(t.clone())
}

fn range_typed<T: Elem>(s: &Tensor, l: &Tensor, d: &Tensor) -> Result<Tensor> {
    let (s, l, d) = (s.as_slice::<T>()?[0], l.as_slice::<T>()?[0], d.as_slice::<T>()?[0]);
    if T::DTYPE.is_float() {
        let (s, l, d) = (s.to_f64(), l.to_f64(), d.to_f64());
        if d == 0.0 || !d.is_finite() || !s.is_finite() || !l.is_finite() {
            bail!("Range: invalid start {s}, limit {l}, delta {d}");
        }
        let n = ((l - s) / d).ceil().max(0.0);
        if n > 1e12 {
            bail!("Range: {n} elements is too many");
        }
        let n = checked_numel(&[n as usize], T::DTYPE, "Range output")?;
        let v: Vec<T> = (0..n).map(|i| T::from_f64(s + i as f64 * d)).collect();
        Tensor::from_vec(vec![n], v)
    } else {
        let (s, l, d) = (s.to_i64() as i128, l.to_i64() as i128, d.to_i64() as i128);
        if d == 0 {
            bail!("Range: delta must not be 0");
        }
        let diff = l - s;
        let n = if d > 0 { (diff + d - 1).div_euclid(d) } else { (-diff + (-d) - 1).div_euclid(-d) }.max(0);
        if n > u32::MAX as i128 * 16 {
            bail!("Range: {n} elements is too many");
        }
        let n = checked_numel(&[n as usize], T::DTYPE, "Range output")?;
        let v: Vec<T> = (0..n).map(|i| T::from_i64((s + i as i128 * d) as i64)).collect();
        Tensor::from_vec(vec![n], v)
    }
}

impl Op for Range {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let s = scalar_of(input(inputs, 0, "Range")?, "start")?;
        let l = scalar_of(input(inputs, 1, "Range")?, "limit")?;
        let d = scalar_of(input(inputs, 2, "Range")?, "delta")?;
        if s.dtype() != l.dtype() || s.dtype() != d.dtype() {
            bail!("Range: inputs have different dtypes");
        }
        Ok(vec![dispatch_numeric!(s.dtype(), T => range_typed::<T>(&s, &l, &d))?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(out(dtype_of(inputs, 0), Some(vec![Dim::Unknown])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let t = |a: i32, b: i32, c: i32| {
            range_typed::<i32>(&Tensor::scalar(a), &Tensor::scalar(b), &Tensor::scalar(c))
                .unwrap()
                .into_vec::<i32>()
                .unwrap()
        };
        assert_eq!(t(10, 6, -3), vec![10, 7]);
        assert_eq!(t(0, 5, 2), vec![0, 2, 4]);
        assert_eq!(t(0, -5, 2), Vec::<i32>::new());
        let f = range_typed::<f32>(&Tensor::scalar(1.0f32), &Tensor::scalar(2.0f32), &Tensor::scalar(0.25f32)).unwrap();
        assert_eq!(f.into_vec::<f32>().unwrap(), vec![1.0, 1.25, 1.5, 1.75]);
    }
}
