//! Helpers shared by the elementwise family: exact integer operations on the native integer
//! types, broadcast inference, a three-input broadcast map and a double precision `erf`.

use crate::ops::util::{broadcast_all, broadcast_dims, broadcast_index_map};
use crate::ops::InferInput;
use crate::{DType, Dim, Elem, Result, Tensor, ValueInfo};

/// Exact operations on a native integer type (no detour through i64, so u64 stays exact).
pub trait IntElem: Elem + Ord {
    const BITS: u32;
    const SIGNED: bool;
    fn is_zero(self) -> bool;
    fn is_negative(self) -> bool;
    fn wrapping_neg(self) -> Self;
    fn wrapping_abs(self) -> Self;
    /// Remainder with the sign of the dividend (C `%`); `None` for a zero divisor.
    fn rem_trunc(self, o: Self) -> Option<Self>;
    /// Remainder with the sign of the divisor (Python `%`); `None` for a zero divisor.
    fn rem_floor(self, o: Self) -> Option<Self>;
    fn shl_bits(self, n: u32) -> Self;
    fn shr_bits(self, n: u32) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    fn not(self) -> Self;
    fn wrapping_mul(self, o: Self) -> Self;
    /// The shift amount as an `i128` (so every value of every type fits).
    fn as_i128(self) -> i128;
}

macro_rules! impl_int_elem {
    ($t:ty, $signed:expr) => {
        impl IntElem for $t {
            const BITS: u32 = <$t>::BITS;
            const SIGNED: bool = $signed;
            #[inline]
            fn is_zero(self) -> bool {
                self == 0
            }
            #[inline]
            #[allow(unused_comparisons)]
            fn is_negative(self) -> bool {
                self < 0
            }
            #[inline]
            fn wrapping_neg(self) -> Self {
                <$t>::wrapping_neg(self)
            }
            #[inline]
            fn wrapping_abs(self) -> Self {
                if IntElem::is_negative(self) {
                    <$t>::wrapping_neg(self)
                } else {
                    self
                }
            }
            #[inline]
            fn rem_trunc(self, o: Self) -> Option<Self> {
                if o == 0 {
                    None
                } else {
                    Some(<$t>::wrapping_rem(self, o))
                }
            }
            #[inline]
            fn rem_floor(self, o: Self) -> Option<Self> {
                let r = self.rem_trunc(o)?;
                if r != 0 && (IntElem::is_negative(r) != IntElem::is_negative(o)) {
                    Some(r.wrapping_add(o))
                } else {
                    Some(r)
                }
            }
            #[inline]
            fn shl_bits(self, n: u32) -> Self {
                self.checked_shl(n).unwrap_or(0)
            }
            #[inline]
            fn shr_bits(self, n: u32) -> Self {
                self.checked_shr(n).unwrap_or(0)
            }
            #[inline]
            fn and(self, o: Self) -> Self {
                self & o
            }
            #[inline]
            fn or(self, o: Self) -> Self {
                self | o
            }
            #[inline]
            fn xor(self, o: Self) -> Self {
                self ^ o
            }
            #[inline]
            fn not(self) -> Self {
                !self
            }
            #[inline]
            fn wrapping_mul(self, o: Self) -> Self {
                <$t>::wrapping_mul(self, o)
            }
            #[inline]
            fn as_i128(self) -> i128 {
                self as i128
            }
        }
    };
}

impl_int_elem!(i8, true);
impl_int_elem!(i16, true);
impl_int_elem!(i32, true);
impl_int_elem!(i64, true);
impl_int_elem!(u8, false);
impl_int_elem!(u16, false);
impl_int_elem!(u32, false);
impl_int_elem!(u64, false);

/// Like `dispatch_all!` but only for the eight integer dtypes (binding `$T: IntElem`).
#[macro_export]
macro_rules! dispatch_int {
    ($dt:expr, $T:ident => $body:expr) => {{
        use $crate::DType as __D;
        match $dt {
            __D::I8 => {
                type $T = i8;
                $body
            }
            __D::I16 => {
                type $T = i16;
                $body
            }
            __D::I32 => {
                type $T = i32;
                $body
            }
            __D::I64 => {
                type $T = i64;
                $body
            }
            __D::U8 => {
                type $T = u8;
                $body
            }
            __D::U16 => {
                type $T = u16;
                $body
            }
            __D::U32 => {
                type $T = u32;
                $body
            }
            __D::U64 => {
                type $T = u64;
                $body
            }
            other => Err($crate::Error::UnsupportedDType { op: String::new(), dtype: other }),
        }
    }};
}

/// Fills in the op name of an `UnsupportedDType` error raised by the dispatch macros.
pub fn named(op: &str, r: Result<Tensor>) -> Result<Tensor> {
    r.map_err(|e| match e {
        crate::Error::UnsupportedDType { dtype, .. } => crate::Error::UnsupportedDType { op: op.to_string(), dtype },
        e => e,
    })
}

/// Errors unless every present input has the same dtype as the first.
pub fn same_dtypes(op: &str, ts: &[&Tensor]) -> Result<DType> {
    let Some(first) = ts.first() else { crate::bail!("{op}: no inputs") };
    for t in ts {
        if t.dtype() != first.dtype() {
            crate::bail!("{op}: input dtypes differ: {} and {}", first.dtype(), t.dtype());
        }
    }
    Ok(first.dtype())
}

/// Static inference for broadcasting ops: output shape is the broadcast of all inputs' shapes
/// (unknown if any is unknown), dtype is `dtype` or else that of the first typed input.
pub fn infer_broadcast(inputs: &[InferInput], dtype: Option<DType>) -> Vec<ValueInfo> {
    let mut shape: Option<Vec<Dim>> = Some(vec![]);
    let mut dt = dtype;
    for i in inputs {
        let Some(info) = i.info else {
            shape = None;
            continue;
        };
        if dt.is_none() {
            dt = info.dtype;
        }
        shape = match (&shape, &info.shape) {
            (Some(s), Some(x)) => Some(broadcast_dims(s, x)),
            _ => None,
        };
    }
    if inputs.is_empty() {
        return vec![];
    }
    vec![ValueInfo::new("", dt, shape)]
}

/// Static inference for shape-preserving ops with output dtype `dtype` (or input 0's).
pub fn infer_unary(inputs: &[InferInput], dtype: Option<DType>) -> Vec<ValueInfo> {
    match inputs.first().and_then(|i| i.info) {
        Some(i) => vec![ValueInfo::new("", dtype.or(i.dtype), i.shape.clone())],
        None => vec![],
    }
}

/// Applies `f` over three broadcast inputs (of possibly different element types).
pub fn ternary_map<A: Elem, B: Elem, C: Elem, O: Elem>(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    f: impl Fn(A, B, C) -> O,
) -> Result<Tensor> {
    let (av, bv, cv) = (a.as_slice::<A>()?, b.as_slice::<B>()?, c.as_slice::<C>()?);
    let shape = broadcast_all(&[a.shape(), b.shape(), c.shape()])?;
    crate::checked_numel(&shape, O::DTYPE, "broadcast result")?;
    let out: Vec<O> = if a.shape() == shape.as_slice() && b.shape() == a.shape() && c.shape() == a.shape() {
        av.iter().zip(bv).zip(cv).map(|((&x, &y), &z)| f(x, y, z)).collect()
    } else {
        let ia = broadcast_index_map(a.shape(), &shape);
        let ib = broadcast_index_map(b.shape(), &shape);
        let ic = broadcast_index_map(c.shape(), &shape);
        ia.iter().zip(&ib).zip(&ic).map(|((&i, &j), &k)| f(av[i], bv[j], cv[k])).collect()
    };
    Tensor::from_vec(shape, out)
}

pub use crate::ops::util::binary_map2;

/// The vectorised f32 path of a pointwise op: `f` over every element of an f32 tensor,
/// split over threads when large.
pub fn map_f32(x: &Tensor, f: crate::simd::UnaryFn) -> Result<Tensor> {
    let src = x.as_slice::<f32>()?;
    let mut out = crate::memory::alloc_for_overwrite::<f32>(src.len());
    crate::simd::par_map(f, src, &mut out);
    Tensor::from_vec(x.shape().to_vec(), out)
}

/// The error function in double precision (relative error around 1e-15).
///
/// |x| < 2.5: erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)) (all terms
/// positive, so no cancellation); beyond, erfc by its continued fraction (modified Lentz).
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax >= 6.0 {
        return 1f64.copysign(x);
    }
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    if ax < 2.5 {
        let x2 = ax * ax;
        let mut term = ax;
        let mut sum = ax;
        let mut n = 0.0f64;
        loop {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
            if term <= sum * 1e-17 {
                break;
            }
        }
        (two_over_sqrt_pi * (-x2).exp() * sum).copysign(x)
    } else {
        (1.0 - erfc_cf(ax)).copysign(x)
    }
}

/// erfc(x) for x >= 2 by the continued fraction
/// erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))).
fn erfc_cf(x: f64) -> f64 {
    let tiny = 1e-300;
    // f = x + K(a_k / x) with a_k = k/2, evaluated by modified Lentz.
    let mut f = x;
    let mut c = x;
    let mut d = 0.0f64;
    for k in 1..200 {
        let a = k as f64 * 0.5;
        d = x + a * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = x + a / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (std::f64::consts::PI.sqrt() * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_values() {
        // Reference values from mpmath.
        let cases = [
            (0.0, 0.0),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (2.4, 0.999311486103355),
            (2.6, 0.9997639655834707),
            (3.0, 0.9999779095030014),
            (4.0, 0.9999999845827421),
            (-1.5, -0.9661051464753108),
        ];
        for (x, want) in cases {
            let got = erf(x);
            assert!((got - want).abs() <= 1e-14, "erf({x}) = {got}, want {want}");
        }
        assert!(erf(f64::NAN).is_nan());
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
    }

    #[test]
    fn broadcast_inference() {
        let a = ValueInfo::new("a", Some(DType::F32), Some(vec![Dim::Sym("N".into()), Dim::Known(1), Dim::Known(4)]));
        let b = ValueInfo::new("b", Some(DType::F32), Some(vec![Dim::Known(3), Dim::Known(1)]));
        let ins = [InferInput { info: Some(&a), value: None }, InferInput { info: Some(&b), value: None }];
        let out = infer_broadcast(&ins, Some(DType::Bool));
        assert_eq!(out[0].dtype, Some(DType::Bool));
        assert_eq!(out[0].shape, Some(vec![Dim::Sym("N".into()), Dim::Known(3), Dim::Known(4)]));
        let unknown = [ins[0], InferInput { info: None, value: None }];
        assert_eq!(infer_broadcast(&unknown, None)[0].shape, None);
    }

    #[test]
    fn where_like_ternary() {
        let c = Tensor::from_vec(vec![2, 1], vec![true, false]).unwrap();
        let x = Tensor::from_vec(vec![3], vec![1i32, 2, 3]).unwrap();
        let y = Tensor::scalar(0i32);
        let r = ternary_map::<bool, i32, i32, i32>(&c, &x, &y, |k, a, b| if k { a } else { b }).unwrap();
        assert_eq!(r.shape(), &[2, 3]);
        assert_eq!(r.as_slice::<i32>().unwrap(), &[1, 2, 3, 0, 0, 0]);
    }

    #[test]
    fn int_rem() {
        assert_eq!((-7i32).rem_floor(3), Some(2));
        assert_eq!(7i32.rem_floor(-3), Some(-2));
        assert_eq!((-7i32).rem_trunc(3), Some(-1));
        assert_eq!(i8::MIN.rem_floor(-1), Some(0));
        assert_eq!(5u64.rem_floor(0), None);
        assert_eq!(u64::MAX.rem_floor(10), Some(5));
    }
}
