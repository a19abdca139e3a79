//! Pow: `base ^ exponent` with numpy broadcasting. The exponent may have a different numeric
//! type than the base; the output has the base's type.
//!
//! Integer base with integer exponent is exact (wrapping on overflow; a negative exponent
//! gives 1/base^n truncated: 1 for base 1, ±1 for base -1, 0 otherwise). Anything involving a
//! float is computed in f64 and converted to the base type (float→int truncates).

use super::binary::legacy_align;
use super::common::{binary_map2, infer_broadcast, named, IntElem};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_float, dispatch_int, dispatch_numeric, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Pow {
    /// Opset < 7 `broadcast`/`axis` attributes (legacy limited broadcasting).
    pub legacy_axis: Option<i64>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let legacy_axis = if cx.opset < 7 && cx.int("broadcast", 0)? == 1 { cx.int_opt("axis")? } else { None };
    Ok(Arc::new(Pow { legacy_axis }))
}

/// Exact integer power with wrapping multiplication; `e` is the exponent's value.
pub fn int_pow<T: IntElem>(base: T, e: i128) -> T {
    if e < 0 {
        return match base.as_i128() {
            1 => T::one(),
            -1 => {
                if e % 2 == 0 {
                    T::one()
                } else {
                    base
                }
            }
            _ => T::zero(),
        };
    }
    let (mut result, mut b, mut e) = (T::one(), base, e);
    while e > 0 {
        if e & 1 == 1 {
            result = result.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
    }
    result
}

fn pow_int_int<B: IntElem>(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    dispatch_int!(b.dtype(), E => binary_map2::<B, E, B>(a, b, |x, y| int_pow(x, y.as_i128())))
}

fn pow_float<B: Elem>(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    dispatch_numeric!(b.dtype(), E => binary_map2::<B, E, B>(a, b, |x, y| B::from_f64(x.to_f64().powf(y.to_f64()))))
}

impl Op for Pow {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "Pow")?;
        let b = legacy_align(a, input(inputs, 1, "Pow")?, self.legacy_axis)?;
        let out = if a.dtype().is_float() {
            dispatch_float!(a.dtype(), B => pow_float::<B>(a, &b))
        } else if b.dtype().is_float() {
            dispatch_int!(a.dtype(), B => pow_float::<B>(a, &b))
        } else {
            dispatch_int!(a.dtype(), B => pow_int_int::<B>(a, &b))
        };
        Ok(vec![named("Pow", out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        if self.legacy_axis.is_some() {
            return Ok(vec![]);
        }
        let dt = inputs.first().and_then(|i| i.info).and_then(|i| i.dtype);
        let mut v = infer_broadcast(inputs, dt);
        if let Some(vi) = v.first_mut() {
            vi.dtype = dt;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_powers() {
        assert_eq!(int_pow(3i64, 4), 81);
        assert_eq!(int_pow(-2i32, 3), -8);
        assert_eq!(int_pow(2i32, 0), 1);
        assert_eq!(int_pow(2i8, 8), 0); // wraps
        assert_eq!(int_pow(-1i32, -3), -1);
        assert_eq!(int_pow(-1i32, -2), 1);
        assert_eq!(int_pow(5i32, -1), 0);
        assert_eq!(int_pow(3u64, 40), 12157665459056928801u64);
    }
}
