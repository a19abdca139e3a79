//! Add, Sub, Mul, Div: numpy-broadcast arithmetic. Integers wrap, integer Div truncates
//! toward zero (as in C and ONNX Runtime); division by zero on integers is an error.
//! f32 takes the vectorised broadcast path of `fast_binary` (bitwise the same results).

use crate::ops::util::{binary_inplace, binary_map, broadcast_dims, broadcast_shapes};
use crate::ops::{input, BuildCtx, ExecCtx, InArg, InferInput, Op};
use crate::{dispatch_numeric, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug)]
pub struct Binary {
    pub kind: Arith,
    /// Opset < 7 `broadcast`/`axis` attributes (legacy limited broadcasting).
    pub legacy_axis: Option<i64>,
}

pub fn build_add(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Arith::Add)
}
pub fn build_sub(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Arith::Sub)
}
pub fn build_mul(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Arith::Mul)
}
pub fn build_div(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Arith::Div)
}

fn build(cx: &BuildCtx, kind: Arith) -> Result<Arc<dyn Op>> {
    let legacy_axis = if cx.opset < 7 && cx.int("broadcast", 0)? == 1 { cx.int_opt("axis")? } else { None };
    Ok(Arc::new(Binary { kind, legacy_axis }))
}

/// Opset<7 broadcasting: `b` is aligned to `a` starting at `axis`; reshape `b` so numpy rules apply.
pub fn legacy_align(a: &Tensor, b: &Tensor, axis: Option<i64>) -> Result<Tensor> {
    let Some(axis) = axis else { return Ok(b.clone()) };
    let axis = crate::ops::util::norm_axis(axis, a.rank())?;
    let mut shape = b.shape().to_vec();
    let trailing = a.rank().saturating_sub(axis + b.rank());
    shape.extend(std::iter::repeat_n(1, trailing));
    b.clone().reshape(shape)
}

/// The scalar function for `kind` on element type `T` (floats in f64, integers exact and wrapping).
fn arith<T: Elem>(kind: Arith) -> impl Fn(T, T) -> T {
    let is_float = T::DTYPE.is_float();
    move |x: T, y: T| {
        if is_float {
            let (a, b) = (x.to_f64(), y.to_f64());
            T::from_f64(match kind {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div => a / b,
            })
        } else {
            let (a, b) = (x.to_i64(), y.to_i64());
            T::from_i64(match kind {
                Arith::Add => a.wrapping_add(b),
                Arith::Sub => a.wrapping_sub(b),
                Arith::Mul => a.wrapping_mul(b),
                Arith::Div => a.checked_div(b).unwrap_or(0),
            })
        }
    }
}

impl Op for Binary {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "binary")?;
        let b = input(inputs, 1, "binary")?;
        if a.dtype() != b.dtype() {
            return Err(Error::Invalid(format!("input dtypes differ: {} and {}", a.dtype(), b.dtype())));
        }
        let b = legacy_align(a, b, self.legacy_axis)?;
        if self.kind == Arith::Div && b.dtype().is_int() && b.to_i64_vec().contains(&0) {
            return Err(Error::Invalid("integer division by zero".into()));
        }
        let f = match self.kind {
            Arith::Add => crate::simd::BinFn::Add,
            Arith::Sub => crate::simd::BinFn::Sub,
            Arith::Mul => crate::simd::BinFn::Mul,
            Arith::Div => crate::simd::BinFn::Div,
        };
        if let Some(out) = super::fast_binary::binary_f32(f, a, &b)? {
            return Ok(vec![out]);
        }
        let out = dispatch_numeric!(a.dtype(), T => binary_map::<T, T>(a, &b, arith::<T>(self.kind)))?;
        Ok(vec![out])
    }

    /// Either operand's buffer can hold the result when it has the result's size.
    fn inplace_inputs(&self) -> &'static [usize] {
        if self.legacy_axis.is_none() {
            &[0, 1]
        } else {
            &[]
        }
    }

    fn run_inplace(&self, ctx: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        let (dt, out_shape) = {
            let r = InArg::refs(inputs);
            let (a, b) = (input(&r, 0, "binary")?, input(&r, 1, "binary")?);
            let plain = a.dtype() == b.dtype() && !(self.kind == Arith::Div && a.dtype().is_int());
            if !plain || !(a.dtype().is_float() || a.dtype().is_int()) {
                return self.run(ctx, &r);
            }
            (a.dtype(), broadcast_shapes(a.shape(), b.shape())?)
        };
        let n: usize = out_shape.iter().product();
        for k in [0, 1] {
            let Some(dst) = InArg::take_owned(inputs, k, |t| t.len() == n) else { continue };
            let r = InArg::refs(inputs);
            let other = input(&r, 1 - k, "binary")?;
            let kind = self.kind;
            let per_row = per_row_value(other.shape(), &out_shape);
            let out = if let Some(inner) = per_row.filter(|_| dt == crate::DType::F32 && (k == 0 || kind.commutes())) {
                // x[N, C, H, W] ∘ s[N, C, 1, 1] (squeeze-excitation scales, channel biases): one
                // vector pass over each row of x, rows split over threads.
                scale_rows(dst, other, inner, kind).and_then(|t| t.reshape(out_shape.clone()))
            } else if dt == crate::DType::F32 {
                // f32 arithmetic is exactly the f64 result rounded (as `arith` computes it).
                binary_inplace::<f32>(dst, other, k == 0, &out_shape, move |x, y| match kind {
                    Arith::Add => x + y,
                    Arith::Sub => x - y,
                    Arith::Mul => x * y,
                    Arith::Div => x / y,
                })
            } else {
                dispatch_numeric!(dt, T => binary_inplace::<T>(dst, other, k == 0, &out_shape, arith::<T>(kind)))
            };
            return Ok(vec![out?]);
        }
        self.run(ctx, &InArg::refs(inputs))
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let (Some(a), Some(b)) = (inputs.first().and_then(|i| i.info), inputs.get(1).and_then(|i| i.info)) else {
            return Ok(vec![]);
        };
        let shape = match (&a.shape, &b.shape) {
            (Some(x), Some(y)) if self.legacy_axis.is_none() => Some(broadcast_dims(x, y)),
            _ => None,
        };
        Ok(vec![ValueInfo::new("", a.dtype.or(b.dtype), shape)])
    }
}

/// When `os` broadcast to `out` holds one value per row of `out` (its trailing axes are all 1
/// and its leading axes equal `out`'s), the row length; `None` otherwise.
impl Arith {
    fn commutes(self) -> bool {
        matches!(self, Arith::Add | Arith::Mul)
    }
}

fn per_row_value(os: &[usize], out: &[usize]) -> Option<usize> {
    let r = out.len();
    if os.len() > r {
        return None;
    }
    let padded: Vec<usize> = std::iter::repeat_n(1, r - os.len()).chain(os.iter().copied()).collect();
    let k = padded.iter().rposition(|&d| d != 1).map_or(0, |i| i + 1);
    let inner: usize = out[k..].iter().product();
    (padded[..k] == out[..k] && inner > 1).then_some(inner)
}

/// `dst[row] = dst[row] ∘ other[row]` for every `inner`-long row (f32 Add/Sub/Mul/Div, dst = a).
fn scale_rows(mut dst: Tensor, other: &Tensor, inner: usize, kind: Arith) -> Result<Tensor> {
    use crate::simd::BinFn;
    let f = match kind {
        Arith::Add => BinFn::Add,
        Arith::Sub => BinFn::Sub,
        Arith::Mul => BinFn::Mul,
        Arith::Div => BinFn::Div,
    };
    let ov = other.as_slice::<f32>()?;
    let dv = dst.as_mut_slice::<f32>()?;
    crate::ensure!(dv.len() == ov.len() * inner, "in-place broadcast: shapes do not match");
    crate::simd::par::for_rows(dv, inner, |i, row| crate::simd::binary_vs_inplace(f, row, ov[i]));
    Ok(dst)
}
