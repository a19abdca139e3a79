//! ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum,
//! ReduceLogSumExp, ReduceSumSquare: one operator struct parameterized by [`Kind`], all built on
//! the shared [`ReduceIndex`].
//!
//! Axes: an attribute before opset 13 (ReduceSum) / 18 (the others), an optional input after.
//! Missing or empty axes reduce everything, unless `noop_with_empty_axes` is set: then nothing is
//! reduced, but composite reductions still apply their elementwise steps (ReduceSumSquare squares,
//! ReduceLogSum takes the log, ...), as the spec says.
//!
//! Empty groups give the identity of the reduction: 0 for sums, 1 for products, -inf (the type's
//! minimum, false for bool) for Max, +inf (maximum, true) for Min, -inf for LogSum/LogSumExp, NaN
//! for a float Mean (0 for integer Mean).
//!
//! Floats are computed in f64 and rounded once; integers are exact with wrapping arithmetic
//! (L2/LogSum/LogSumExp of integers go through f64 and truncate, like numpy's `astype`).

use super::common::{reduced_dims, reduced_shape, resolve_axes, ReduceIndex};
use crate::ops::util::ints_of;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_all, dispatch_numeric, DType, Dim, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sum => "ReduceSum",
            Kind::Mean => "ReduceMean",
            Kind::Max => "ReduceMax",
            Kind::Min => "ReduceMin",
            Kind::Prod => "ReduceProd",
            Kind::L1 => "ReduceL1",
            Kind::L2 => "ReduceL2",
            Kind::LogSum => "ReduceLogSum",
            Kind::LogSumExp => "ReduceLogSumExp",
            Kind::SumSquare => "ReduceSumSquare",
        }
    }

    /// First opset in which `axes` is an input rather than an attribute.
    fn axes_input_since(self) -> i64 {
        if self == Kind::Sum {
            13
        } else {
            18
        }
    }
}

/// Where the axes come from.
#[derive(Debug, Clone)]
enum Axes {
    /// Attribute (older opsets); `None` = all axes.
    Attr(Option<Vec<i64>>),
    /// Optional input #1.
    Input,
}

#[derive(Debug)]
pub struct Reduce {
    kind: Kind,
    axes: Axes,
    keepdims: bool,
    noop_with_empty_axes: bool,
}

fn build(cx: &BuildCtx, kind: Kind) -> Result<Arc<dyn Op>> {
    let axes = if cx.has("axes") || cx.opset < kind.axes_input_since() {
        Axes::Attr(cx.ints_opt("axes")?)
    } else {
        Axes::Input
    };
    Ok(Arc::new(Reduce {
        kind,
        axes,
        keepdims: cx.int("keepdims", 1)? != 0,
        noop_with_empty_axes: cx.int("noop_with_empty_axes", 0)? != 0,
    }))
}

pub fn build_sum(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Sum)
}
pub fn build_mean(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Mean)
}
pub fn build_max(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Max)
}
pub fn build_min(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Min)
}
pub fn build_prod(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Prod)
}
pub fn build_l1(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::L1)
}
pub fn build_l2(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::L2)
}
pub fn build_log_sum(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::LogSum)
}
pub fn build_log_sum_exp(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::LogSumExp)
}
pub fn build_sum_square(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::SumSquare)
}

/// Reduction of one group of floats (given as f64).
fn reduce_f64(kind: Kind, g: impl Iterator<Item = f64> + Clone, n: usize) -> f64 {
    match kind {
        Kind::Sum => g.sum(),
        Kind::Mean => g.sum::<f64>() / n as f64,
        Kind::Prod => g.product(),
        Kind::L1 => g.map(f64::abs).sum(),
        Kind::L2 => g.map(|x| x * x).sum::<f64>().sqrt(),
        Kind::SumSquare => g.map(|x| x * x).sum(),
        Kind::LogSum => g.sum::<f64>().ln(),
        Kind::LogSumExp => {
            let m = g.clone().fold(f64::NEG_INFINITY, f64::max);
            // Shift by the max for stability; an infinite max would give inf-inf = NaN.
            let shift = if m.is_finite() { m } else { 0.0 };
            g.map(|x| (x - shift).exp()).sum::<f64>().ln() + shift
        }
        Kind::Max => g.fold(f64::NEG_INFINITY, |a, x| if x.is_nan() || x > a { x } else { a }),
        Kind::Min => g.fold(f64::INFINITY, |a, x| if x.is_nan() || x < a { x } else { a }),
    }
}

/// Exact integer value of an integer element (u64 does not fit i64).
fn int_val<T: Elem>(x: T) -> i128 {
    let v = x.to_i64();
    if T::DTYPE == DType::U64 {
        v as u64 as i128
    } else {
        v as i128
    }
}

/// Reduction of one group of integers, exact with wrapping (the result is truncated to `T`).
fn reduce_int<T: Elem>(kind: Kind, g: impl Iterator<Item = T> + Clone, n: usize) -> T {
    if matches!(kind, Kind::Max | Kind::Min) {
        return reduce_ord(kind == Kind::Max, g);
    }
    let wrap = |v: i128| T::from_i64(v as i64);
    let g = g.map(int_val);
    match kind {
        Kind::Sum => wrap(g.fold(0i128, i128::wrapping_add)),
        Kind::Mean => {
            if n == 0 {
                T::zero()
            } else {
                wrap(g.fold(0i128, i128::wrapping_add) / n as i128)
            }
        }
        Kind::Prod => wrap(g.fold(1i128, i128::wrapping_mul)),
        Kind::L1 => wrap(g.fold(0i128, |a, x| a.wrapping_add(x.wrapping_abs()))),
        Kind::SumSquare => wrap(g.fold(0i128, |a, x| a.wrapping_add(x.wrapping_mul(x)))),
        _ => T::from_f64(reduce_f64(kind, g.map(|x| x as f64), n)),
    }
}

/// Max/Min in the element type itself (exact for every type; NaN propagates; bool is or/and).
fn reduce_ord<T: Elem>(max: bool, g: impl Iterator<Item = T>) -> T {
    let init = if T::DTYPE == DType::Bool {
        if max {
            T::zero()
        } else {
            T::one()
        }
    } else if max {
        T::from_f64(f64::NEG_INFINITY) // saturates to the integer minimum
    } else {
        T::from_f64(f64::INFINITY)
    };
    #[allow(clippy::eq_op)]
    g.fold(init, |a, x| {
        let is_nan = x != x;
        if is_nan || (max && x > a) || (!max && x < a) {
            x
        } else {
            a
        }
    })
}

fn run_typed<T: Elem>(kind: Kind, x: &Tensor, ri: &ReduceIndex, out_shape: Vec<usize>) -> Result<Tensor> {
    let xs = x.as_slice::<T>()?;
    let n = ri.group_len();
    let out: Vec<T> = match kind {
        Kind::Max | Kind::Min => ri.bases.iter().map(|&b| reduce_ord(kind == Kind::Max, ri.group(xs, b))).collect(),
        _ if T::DTYPE.is_float() => {
            ri.bases.iter().map(|&b| T::from_f64(reduce_f64(kind, ri.group(xs, b).map(T::to_f64), n))).collect()
        }
        _ => ri.bases.iter().map(|&b| reduce_int(kind, ri.group(xs, b), n)).collect(),
    };
    Tensor::from_vec(out_shape, out)
}

/// Sum / Mean of f32 over one run of consecutive axes (`[outer, r, inner]` with the middle
/// reduced; DLRM's embedding bags, `[8, 3, 32]` over axis 1): every output row accumulates `r`
/// contiguous input rows in f64 (the same f64 sums, rounded once, as the general path, without
/// its per-element index lists). `None` when the axes are not one consecutive run or the group
/// is empty.
fn sum_rows_f32(kind: Kind, x: &Tensor, reduced: &[bool]) -> Result<Option<Vec<f32>>> {
    if !matches!(kind, Kind::Sum | Kind::Mean) || x.dtype() != DType::F32 {
        return Ok(None);
    }
    let (Some(first), Some(last)) = (reduced.iter().position(|&r| r), reduced.iter().rposition(|&r| r)) else {
        return Ok(None);
    };
    if !reduced[first..=last].iter().all(|&r| r) {
        return Ok(None);
    }
    let shape = x.shape();
    let outer: usize = shape[..first].iter().product();
    let r: usize = shape[first..=last].iter().product();
    let inner: usize = shape[last + 1..].iter().product();
    if r == 0 {
        return Ok(None);
    }
    let xs = x.as_slice::<f32>()?;
    let scale = if kind == Kind::Mean { 1.0 / r as f64 } else { 1.0 };
    let mut out = vec![0f32; outer * inner];
    let mut acc = vec![0f64; inner];
    for (o, dst) in out.chunks_exact_mut(inner.max(1)).enumerate().take(outer) {
        let rows = &xs[o * r * inner..(o + 1) * r * inner];
        acc.fill(0.0);
        for row in rows.chunks_exact(inner) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as f64;
            }
        }
        for (d, &a) in dst.iter_mut().zip(&acc) {
            *d = (if kind == Kind::Mean { a * scale } else { a }) as f32;
        }
    }
    Ok(Some(out))
}

impl Reduce {
    /// The statically known axes: `Ok(Some(None))` = "default", `Ok(None)` = unknown.
    fn static_axes(&self, inputs: &[InferInput]) -> Option<Option<Vec<i64>>> {
        match &self.axes {
            Axes::Attr(a) => Some(a.clone()),
            Axes::Input => match inputs.get(1) {
                None => Some(None),
                Some(i) => i.value.and_then(|t| ints_of(t).ok()).map(Some),
            },
        }
    }
}

impl Op for Reduce {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let name = self.kind.name();
        let x = input(inputs, 0, name)?;
        let axes: Option<Vec<i64>> = match &self.axes {
            Axes::Attr(a) => a.clone(),
            Axes::Input => opt_input(inputs, 1).map(ints_of).transpose()?,
        };
        let reduced = resolve_axes(axes.as_deref(), x.rank(), self.noop_with_empty_axes)?;
        let out_shape = reduced_shape(x.shape(), &reduced, self.keepdims);
        if let Some(out) = sum_rows_f32(self.kind, x, &reduced)? {
            return Ok(vec![Tensor::from_vec(out_shape, out)?]);
        }
        let ri = ReduceIndex::new(x.shape(), &reduced, x.dtype())?;
        let kind = self.kind;
        let out = match kind {
            Kind::Max | Kind::Min => dispatch_all!(x.dtype(), T => run_typed::<T>(kind, x, &ri, out_shape)),
            _ => dispatch_numeric!(x.dtype(), T => run_typed::<T>(kind, x, &ri, out_shape)),
        }
        .map_err(|e| match e {
            Error::UnsupportedDType { dtype, .. } => Error::UnsupportedDType { op: name.to_string(), dtype },
            e => e,
        })?;
        Ok(vec![out])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let Some(info) = inputs.first().and_then(|i| i.info) else { return Ok(vec![]) };
        let shape = info.shape.as_ref().and_then(|dims| match self.static_axes(inputs) {
            Some(axes) => {
                let reduced = resolve_axes(axes.as_deref(), dims.len(), self.noop_with_empty_axes).ok()?;
                Some(reduced_dims(dims, &reduced, self.keepdims))
            }
            None if self.keepdims => Some(vec![Dim::Unknown; dims.len()]),
            None => None,
        });
        Ok(vec![ValueInfo::new("", info.dtype, shape)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(kind: Kind, x: &Tensor, axes: Option<Vec<i64>>, keepdims: bool, noop: bool) -> Tensor {
        let op = Reduce { kind, axes: Axes::Attr(axes), keepdims, noop_with_empty_axes: noop };
        struct NoCtx;
        impl ExecCtx for NoCtx {
            fn run_subgraph_values(&self, _: &Arc<crate::Graph>, _: Vec<crate::Value>) -> Result<Vec<crate::Value>> {
                unreachable!()
            }
        }
        op.run(&NoCtx, &[Some(x)]).unwrap().remove(0)
    }

    #[test]
    fn sums_and_shapes() {
        let x = Tensor::from_vec(vec![2, 3], vec![1f32, 2., 3., 4., 5., 6.]).unwrap();
        let s = red(Kind::Sum, &x, Some(vec![1]), false, false);
        assert_eq!(s.shape(), &[2]);
        assert_eq!(s.to_f64_vec(), vec![6., 15.]);
        let s = red(Kind::Mean, &x, Some(vec![0]), true, false);
        assert_eq!(s.shape(), &[1, 3]);
        assert_eq!(s.to_f64_vec(), vec![2.5, 3.5, 4.5]);
        let s = red(Kind::SumSquare, &x, None, true, true);
        assert_eq!(s.to_f64_vec(), vec![1., 4., 9., 16., 25., 36.]);
        let s = red(Kind::LogSumExp, &x, None, false, false);
        let want = (1..=6).map(|v| (v as f64).exp()).sum::<f64>().ln();
        assert!((s.to_f64_vec()[0] - want).abs() < 1e-5);
    }

    /// The f32 Sum/Mean fast path (one run of consecutive axes) against a float64 reference over
    /// random shapes and axis runs, plus the cases it must leave to the general path.
    #[test]
    fn contiguous_sum_mean_matches_f64() {
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for case in 0..200 {
            let rank = 1 + next() % 4;
            let shape: Vec<usize> = (0..rank).map(|_| 1 + next() % 5).collect();
            let a0 = next() % rank;
            let a1 = a0 + next() % (rank - a0);
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
            let x = Tensor::from_vec(shape.clone(), data.clone()).unwrap();
            let axes: Vec<i64> = (a0..=a1).map(|a| a as i64).collect();
            let reduced: Vec<bool> = (0..rank).map(|i| (a0..=a1).contains(&i)).collect();
            for kind in [Kind::Sum, Kind::Mean] {
                assert!(sum_rows_f32(kind, &x, &reduced).unwrap().is_some());
                let keep = case % 2 == 0;
                let got = red(kind, &x, Some(axes.clone()), keep, false);
                assert_eq!(got.shape(), reduced_shape(&shape, &reduced, keep).as_slice());
                let outer: usize = shape[..a0].iter().product();
                let r: usize = shape[a0..=a1].iter().product();
                let inner: usize = shape[a1 + 1..].iter().product();
                let g = got.to_f64_vec();
                for o in 0..outer {
                    for j in 0..inner {
                        let s: f64 = (0..r).map(|q| data[(o * r + q) * inner + j] as f64).sum();
                        let want = if kind == Kind::Mean { s / r as f64 } else { s };
                        let v = g[o * inner + j];
                        assert!((v - want).abs() <= 1e-6 * (1.0 + want.abs()), "{shape:?} {axes:?} {v} vs {want}");
                    }
                }
            }
        }
        // Not one run of axes, another kind, another type, an empty group: the general path.
        let x = Tensor::from_vec(vec![2, 3, 2], (0..12).map(|v| v as f32).collect()).unwrap();
        assert!(sum_rows_f32(Kind::Sum, &x, &[true, false, true]).unwrap().is_none());
        assert_eq!(red(Kind::Sum, &x, Some(vec![0, 2]), false, false).to_f64_vec(), vec![14., 22., 30.]);
        assert!(sum_rows_f32(Kind::Max, &x, &[false, true, false]).unwrap().is_none());
        let xi = Tensor::from_vec(vec![2, 2], vec![1i32, 2, 3, 4]).unwrap();
        assert!(sum_rows_f32(Kind::Sum, &xi, &[false, true]).unwrap().is_none());
        let xe = Tensor::from_vec(vec![2, 0, 3], Vec::<f32>::new()).unwrap();
        assert!(sum_rows_f32(Kind::Sum, &xe, &[false, true, false]).unwrap().is_none());
        assert!(sum_rows_f32(Kind::Sum, &x, &[false, false, false]).unwrap().is_none());
    }

    #[test]
    fn empty_sets() {
        let x = Tensor::from_vec(vec![2, 0], Vec::<f32>::new()).unwrap();
        assert_eq!(red(Kind::Sum, &x, Some(vec![1]), true, false).to_f64_vec(), vec![0., 0.]);
        assert_eq!(red(Kind::Prod, &x, Some(vec![1]), true, false).to_f64_vec(), vec![1., 1.]);
        assert_eq!(red(Kind::Min, &x, Some(vec![1]), true, false).to_f64_vec(), vec![f64::INFINITY; 2]);
        assert_eq!(red(Kind::LogSumExp, &x, Some(vec![1]), true, false).to_f64_vec(), vec![f64::NEG_INFINITY; 2]);
        let xi = Tensor::from_vec(vec![0], Vec::<i32>::new()).unwrap();
        assert_eq!(red(Kind::Max, &xi, None, false, false).to_i64_vec(), vec![i32::MIN as i64]);
        let xb = Tensor::from_vec(vec![0], Vec::<bool>::new()).unwrap();
        assert_eq!(red(Kind::Min, &xb, None, false, false).to_i64_vec(), vec![1]);
    }

    #[test]
    fn integers_exact() {
        let x = Tensor::from_vec(vec![2], vec![u64::MAX - 1, 1]).unwrap();
        assert_eq!(red(Kind::Sum, &x, None, false, false).as_slice::<u64>().unwrap(), &[u64::MAX]);
        assert_eq!(red(Kind::Mean, &x, None, false, false).as_slice::<u64>().unwrap(), &[u64::MAX / 2]);
        let x = Tensor::from_vec(vec![3], vec![-3i32, 5, -7]).unwrap();
        assert_eq!(red(Kind::L1, &x, None, false, false).to_i64_vec(), vec![15]);
        assert_eq!(red(Kind::Max, &x, None, false, false).to_i64_vec(), vec![5]);
        assert_eq!(red(Kind::Prod, &x, None, false, false).to_i64_vec(), vec![105]);
    }

    #[test]
    fn nan_propagates_in_max() {
        let x = Tensor::from_vec(vec![3], vec![1f32, f32::NAN, 3.]).unwrap();
        assert!(red(Kind::Max, &x, None, false, false).to_f64_vec()[0].is_nan());
    }

    #[test]
    fn infer_symbolic() {
        let info =
            ValueInfo::new("x", Some(DType::F32), Some(vec![Dim::Sym("N".into()), Dim::Known(3), Dim::Known(4)]));
        let axes = Tensor::from_vec(vec![1], vec![-1i64]).unwrap();
        let op = Reduce { kind: Kind::Sum, axes: Axes::Input, keepdims: false, noop_with_empty_axes: false };
        let ins = [InferInput { info: Some(&info), value: None }, InferInput { info: None, value: Some(&axes) }];
        let out = op.infer(&ins).unwrap();
        assert_eq!(out[0].shape, Some(vec![Dim::Sym("N".into()), Dim::Known(3)]));
        assert_eq!(out[0].dtype, Some(DType::F32));
        let op = Reduce { kind: Kind::Max, axes: Axes::Attr(None), keepdims: true, noop_with_empty_axes: false };
        let out = op.infer(&ins[..1]).unwrap();
        assert_eq!(out[0].shape, Some(vec![Dim::Known(1); 3]));
    }
}
