//! Attribute-free unary math: Abs Neg Floor Ceil Round Sign Sqrt Reciprocal Exp Log Sin Cos Tan
//! Asin Acos Atan Sinh Cosh Asinh Acosh Atanh Erf Not.
//!
//! Floats are computed in f64 and rounded to the element type, except the f32 fast paths
//! (Abs Neg Sqrt Reciprocal Exp Log Erf) which run the vector kernels of `crate::simd`. Abs, Neg and Sign also accept
//! integers (exact, wrapping: Abs(-128i8) = -128); Not takes bool.

use super::common::{erf, infer_unary, map_f32, named, IntElem};
use crate::ops::util::unary_map;
use crate::ops::{input, ExecCtx, InferInput, Op};
use crate::{dispatch_float, dispatch_int, DType, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryKind {
    Abs,
    Neg,
    Floor,
    Ceil,
    Round,
    Sign,
    Sqrt,
    Reciprocal,
    Exp,
    Log,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    Erf,
    Not,
}

impl UnaryKind {
    pub fn name(self) -> &'static str {
        use UnaryKind::*;
        match self {
            Abs => "Abs",
            Neg => "Neg",
            Floor => "Floor",
            Ceil => "Ceil",
            Round => "Round",
            Sign => "Sign",
            Sqrt => "Sqrt",
            Reciprocal => "Reciprocal",
            Exp => "Exp",
            Log => "Log",
            Sin => "Sin",
            Cos => "Cos",
            Tan => "Tan",
            Asin => "Asin",
            Acos => "Acos",
            Atan => "Atan",
            Sinh => "Sinh",
            Cosh => "Cosh",
            Asinh => "Asinh",
            Acosh => "Acosh",
            Atanh => "Atanh",
            Erf => "Erf",
            Not => "Not",
        }
    }

    /// The function on a float value.
    pub fn eval_f64(self, x: f64) -> f64 {
        use UnaryKind::*;
        match self {
            Abs => x.abs(),
            Neg => -x,
            Floor => x.floor(),
            Ceil => x.ceil(),
            Round => x.round_ties_even(),
            Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x // ±0 and NaN
                }
            }
            Sqrt => x.sqrt(),
            Reciprocal => 1.0 / x,
            Exp => x.exp(),
            Log => x.ln(),
            Sin => x.sin(),
            Cos => x.cos(),
            Tan => x.tan(),
            Asin => x.asin(),
            Acos => x.acos(),
            Atan => x.atan(),
            Sinh => x.sinh(),
            Cosh => x.cosh(),
            Asinh => x.asinh(),
            Acosh => x.acosh(),
            Atanh => x.atanh(),
            Erf => erf(x),
            Not => (x == 0.0) as u8 as f64,
        }
    }

    /// The vectorised f32 kernel of this kind, where there is one.
    pub fn simd_f32(self) -> Option<crate::simd::UnaryFn> {
        use crate::simd::UnaryFn as F;
        Some(match self {
            UnaryKind::Abs => F::Abs,
            UnaryKind::Neg => F::Neg,
            UnaryKind::Sqrt => F::Sqrt,
            UnaryKind::Reciprocal => F::Reciprocal,
            UnaryKind::Exp => F::Exp,
            UnaryKind::Log => F::Log,
            UnaryKind::Erf => F::Erf,
            _ => return None,
        })
    }

    /// The function on an integer value, for the kinds defined on integers.
    fn eval_int<T: IntElem>(self, x: T) -> Option<T> {
        match self {
            UnaryKind::Abs => Some(x.wrapping_abs()),
            UnaryKind::Neg => Some(x.wrapping_neg()),
            UnaryKind::Sign => Some(if x.is_negative() {
                T::one().wrapping_neg()
            } else if x.is_zero() {
                T::zero()
            } else {
                T::one()
            }),
            // Rounding an integer is the identity.
            UnaryKind::Floor | UnaryKind::Ceil | UnaryKind::Round => Some(x),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct Unary {
    pub kind: UnaryKind,
}

pub fn build(kind: UnaryKind) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Unary { kind }))
}

fn run_int<T: IntElem>(kind: UnaryKind, x: &Tensor) -> Result<Tensor> {
    if kind.eval_int(T::zero()).is_none() {
        return Err(Error::UnsupportedDType { op: kind.name().into(), dtype: T::DTYPE });
    }
    unary_map::<T, T>(x, |v| kind.eval_int(v).unwrap_or(v))
}

impl Op for Unary {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let kind = self.kind;
        let x = input(inputs, 0, kind.name())?;
        let dt = x.dtype();
        let out = if kind == UnaryKind::Not {
            if dt != DType::Bool {
                return Err(Error::UnsupportedDType { op: "Not".into(), dtype: dt });
            }
            unary_map::<bool, bool>(x, |v| !v)
        } else if let (DType::F32, Some(f)) = (dt, kind.simd_f32()) {
            map_f32(x, f)
        } else if dt == DType::F32 {
            unary_map::<f32, f32>(x, |v| kind.eval_f64(v as f64) as f32)
        } else if dt.is_float() {
            dispatch_float!(dt, T => unary_map::<T, T>(x, |v| T::from_f64(kind.eval_f64(v.to_f64()))))
        } else {
            dispatch_int!(dt, T => run_int::<T>(kind, x))
        };
        Ok(vec![named(kind.name(), out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_unary(inputs, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoCtx;
    impl ExecCtx for NoCtx {
        fn run_subgraph_values(&self, _: &Arc<crate::Graph>, _: Vec<crate::Value>) -> Result<Vec<crate::Value>> {
            unreachable!()
        }
    }

    fn run1(kind: UnaryKind, t: Tensor) -> Result<Tensor> {
        Ok(Unary { kind }.run(&NoCtx, &[Some(&t)])?.remove(0))
    }

    #[test]
    fn round_half_even() {
        let t = Tensor::from_vec(vec![6], vec![0.5f32, 1.5, 2.5, -2.5, -0.5, 2.3]).unwrap();
        let r = run1(UnaryKind::Round, t).unwrap();
        assert_eq!(r.as_slice::<f32>().unwrap(), &[0.0, 2.0, 2.0, -2.0, -0.0, 2.0]);
    }

    #[test]
    fn int_abs_sign_neg() {
        let t = Tensor::from_vec(vec![4], vec![-128i8, -3, 0, 7]).unwrap();
        assert_eq!(run1(UnaryKind::Abs, t.clone()).unwrap().as_slice::<i8>().unwrap(), &[-128, 3, 0, 7]);
        assert_eq!(run1(UnaryKind::Sign, t.clone()).unwrap().as_slice::<i8>().unwrap(), &[-1, -1, 0, 1]);
        assert_eq!(run1(UnaryKind::Neg, t.clone()).unwrap().as_slice::<i8>().unwrap(), &[-128, 3, 0, -7]);
        assert!(run1(UnaryKind::Sqrt, t).is_err());
        let u = Tensor::from_vec(vec![2], vec![u64::MAX, 0]).unwrap();
        assert_eq!(run1(UnaryKind::Abs, u.clone()).unwrap().as_slice::<u64>().unwrap(), &[u64::MAX, 0]);
        assert_eq!(run1(UnaryKind::Sign, u).unwrap().as_slice::<u64>().unwrap(), &[1, 0]);
    }
}
