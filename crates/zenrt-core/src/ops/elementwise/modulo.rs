//! Mod with numpy broadcasting. `fmod = 0`: remainder with the sign of the divisor
//! (Python / `np.mod`); `fmod = 1`: remainder with the sign of the dividend (C `fmod`).
//! Integers are exact; an integer division by zero is an error. Floats in f64, with the
//! special cases of the spec (x = ±inf or y = ±0 give NaN; y = ±inf gives x or y).

use super::common::{infer_broadcast, named, same_dtypes, IntElem};
use crate::ops::util::binary_map;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, dispatch_float, dispatch_int, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Mod {
    pub fmod: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let fmod = match cx.int("fmod", 0)? {
        0 => false,
        1 => true,
        v => return Err(crate::Error::Attr { attr: "fmod".into(), msg: format!("must be 0 or 1, got {v}") }),
    };
    Ok(Arc::new(Mod { fmod }))
}

/// Floating point modulo in f64.
pub fn float_mod(x: f64, y: f64, fmod: bool) -> f64 {
    let r = x % y; // truncated remainder; NaN for x = ±inf or y = 0
    if fmod || r.is_nan() {
        return r;
    }
    if r == 0.0 {
        return 0f64.copysign(y);
    }
    if (r < 0.0) != (y < 0.0) {
        r + y
    } else {
        r
    }
}

fn int_mod<T: IntElem>(a: &Tensor, b: &Tensor, fmod: bool) -> Result<Tensor> {
    if b.as_slice::<T>()?.iter().any(|v| v.is_zero()) {
        bail!("Mod: integer division by zero");
    }
    binary_map::<T, T>(a, b, |x, y| {
        if fmod {
            x.rem_trunc(y).unwrap_or(T::zero())
        } else {
            x.rem_floor(y).unwrap_or(T::zero())
        }
    })
}

impl Op for Mod {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "Mod")?;
        let b = input(inputs, 1, "Mod")?;
        let dt = same_dtypes("Mod", &[a, b])?;
        let fmod = self.fmod;
        let out = if dt.is_float() {
            dispatch_float!(dt, T => binary_map::<T, T>(a, b, |x, y| T::from_f64(float_mod(x.to_f64(), y.to_f64(), fmod))))
        } else {
            dispatch_int!(dt, T => int_mod::<T>(a, b, fmod))
        };
        Ok(vec![named("Mod", out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_broadcast(inputs, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_cases() {
        assert_eq!(float_mod(-7.0, 3.0, false), 2.0);
        assert_eq!(float_mod(7.0, -3.0, false), -2.0);
        assert_eq!(float_mod(-7.0, 3.0, true), -1.0);
        assert!(float_mod(6.0, -3.0, false).is_sign_negative());
        assert!(float_mod(f64::INFINITY, 3.0, false).is_nan());
        assert!(float_mod(1.0, 0.0, false).is_nan());
        assert_eq!(float_mod(-1.0, f64::INFINITY, false), f64::INFINITY);
        assert_eq!(float_mod(1.0, f64::INFINITY, false), 1.0);
        assert_eq!(float_mod(-1.0, f64::INFINITY, true), -1.0);
    }
}
