//! Softmax, LogSoftmax and Hardmax (one table-driven file: they share axis handling).
//! Opset < 13: the input is coerced to 2-D `[prod(shape[..axis]), prod(shape[axis..])]`
//! (default axis 1) and each row is normalized. Opset >= 13: along `axis` (default -1).
//! Floats compute in f64 and round to the input type; f32 along the last axis (or coerced 2-D)
//! takes the vector kernels of `crate::simd`.

use super::common::tensor_from_f64;
use crate::ops::util::{norm_axis, same_as_input0};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::simd::{self, BinFn};
use crate::{DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Softmax,
    LogSoftmax,
    Hardmax,
}

#[derive(Debug)]
pub struct SoftmaxLike {
    pub kind: Kind,
    pub axis: i64,
    /// Opset < 13 semantics (flatten to 2-D at `axis`).
    pub coerce_2d: bool,
}

fn build(cx: &BuildCtx, kind: Kind) -> Result<Arc<dyn Op>> {
    let coerce_2d = cx.opset < 13;
    let axis = cx.int("axis", if coerce_2d { 1 } else { -1 })?;
    Ok(Arc::new(SoftmaxLike { kind, axis, coerce_2d }))
}
pub fn build_softmax(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Softmax)
}
pub fn build_log_softmax(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::LogSoftmax)
}
pub fn build_hardmax(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Hardmax)
}

/// Applies `kind` to a row `x` (strided by `stride`, `len` elements) of `v`, in place.
fn apply_row(kind: Kind, v: &mut [f64], start: usize, len: usize, stride: usize) {
    let idx = |i: usize| start + i * stride;
    // NaN-propagating max (like numpy).
    let mut max = f64::NEG_INFINITY;
    let mut arg = 0usize;
    for i in 0..len {
        let x = v[idx(i)];
        if x.is_nan() {
            if !max.is_nan() {
                arg = i;
            }
            max = f64::NAN;
        } else if x > max {
            max = x;
            arg = i;
        }
    }
    match kind {
        Kind::Hardmax => {
            for i in 0..len {
                v[idx(i)] = if i == arg { 1.0 } else { 0.0 };
            }
        }
        Kind::Softmax | Kind::LogSoftmax => {
            // An all -inf row: exp(-inf - -inf) is NaN, as in the reference formula.
            let mut sum = 0.0;
            for i in 0..len {
                sum += (v[idx(i)] - max).exp();
            }
            let lsum = sum.ln();
            for i in 0..len {
                let e = v[idx(i)] - max;
                v[idx(i)] = if kind == Kind::Softmax { e.exp() / sum } else { e - lsum };
            }
        }
    }
}

/// Softmax / LogSoftmax of f32 rows of `len` contiguous elements (the last-axis case): vector
/// max, fused `exp(x - max)` + sum, then one scaling pass; rows split over threads.
fn softmax_rows_f32(kind: Kind, x: &Tensor, len: usize) -> Result<Tensor> {
    let xv = x.as_slice::<f32>()?;
    let mut out = crate::memory::alloc_for_overwrite::<f32>(xv.len());
    crate::simd::par::for_rows(&mut out, len, |r, y| {
        let row = &xv[r * len..(r + 1) * len];
        let m = simd::max(row);
        let s = simd::exp_sub_sum(row, m, y);
        if kind == Kind::Softmax {
            simd::binary_vs_inplace(BinFn::Div, y, s);
        } else {
            simd::binary_vs(BinFn::Sub, row, m, y);
            simd::binary_vs_inplace(BinFn::Sub, y, s.ln());
        }
    });
    Tensor::from_vec(x.shape().to_vec(), out)
}

/// Softmax-like normalization of `x` along `axis` (already normalized), or over the
/// trailing `[axis..]` block when `coerce_2d`.
pub fn softmax_like(kind: Kind, x: &Tensor, axis: usize, coerce_2d: bool) -> Result<Tensor> {
    if !x.dtype().is_float() {
        return Err(Error::UnsupportedDType { op: format!("{kind:?}"), dtype: x.dtype() });
    }
    let shape = x.shape();
    let (outer, len, inner) = if coerce_2d {
        (shape[..axis].iter().product::<usize>(), shape[axis..].iter().product::<usize>(), 1usize)
    } else {
        super::common::split_at_axis(shape, axis)
    };
    if x.dtype() == DType::F32 && inner == 1 && kind != Kind::Hardmax && len > 0 {
        return softmax_rows_f32(kind, x, len);
    }
    let mut v = x.to_f64_vec();
    if !v.is_empty() {
        for o in 0..outer {
            for i in 0..inner {
                apply_row(kind, &mut v, o * len * inner + i, len, inner);
            }
        }
    }
    tensor_from_f64(x.dtype(), shape.to_vec(), v)
}

impl Op for SoftmaxLike {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Softmax")?;
        let axis = if x.rank() == 0 { 0 } else { norm_axis(self.axis, x.rank())? };
        Ok(vec![softmax_like(self.kind, x, axis, self.coerce_2d)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_axis_and_coerce() {
        let x = Tensor::from_vec(vec![2, 2], vec![0.0f64, 2.0, 1.0, 1.0]).unwrap();
        let y = softmax_like(Kind::Softmax, &x, 1, false).unwrap().to_f64_vec();
        let e2 = 2.0f64.exp();
        assert!((y[0] - 1.0 / (1.0 + e2)).abs() < 1e-12 && (y[3] - 0.5).abs() < 1e-12);
        // axis 0: column-wise
        let y = softmax_like(Kind::Hardmax, &x, 0, false).unwrap().to_f64_vec();
        assert_eq!(y, vec![0.0, 1.0, 1.0, 0.0]);
        // coerce to 2-D at axis 0: one row of 4
        let y = softmax_like(Kind::LogSoftmax, &x, 0, true).unwrap().to_f64_vec();
        let lse = (1.0 + e2 + 2.0 * 1.0f64.exp()).ln();
        assert!((y[2] - (1.0 - lse)).abs() < 1e-12);
    }

    /// The f32 row path against the f64 path (same data as f64), with -inf and NaN rows.
    #[test]
    fn f32_rows_match_f64() {
        let (rows, len) = (7, 37);
        let mut v: Vec<f32> = (0..rows * len).map(|i| ((i * 7919) % 211) as f32 * 0.05 - 5.0).collect();
        v[len] = f32::NEG_INFINITY;
        v[2 * len + 3] = f32::NAN;
        for j in 0..len {
            v[3 * len + j] = f32::NEG_INFINITY;
        }
        let x32 = Tensor::from_vec(vec![rows, len], v.clone()).unwrap();
        let x64 = Tensor::from_vec(vec![rows, len], v.iter().map(|&a| a as f64).collect()).unwrap();
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let got = softmax_like(kind, &x32, 1, false).unwrap().to_f64_vec();
            let want = softmax_like(kind, &x64, 1, false).unwrap().to_f64_vec();
            for (g, w) in got.iter().zip(&want) {
                let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 1e-6 * w.abs().max(1e-3);
                assert!(ok, "{kind:?}: {g} vs {w}");
            }
        }
    }
}
