//! BitShift (`direction` = "LEFT" or "RIGHT") with numpy broadcasting, on integer tensors.
//! Right shifts of signed values are arithmetic. A shift amount that is negative or at least
//! the bit width gives what the sign fill alone produces: -1 for a right shift of a negative
//! value, 0 otherwise.

use super::common::{infer_broadcast, named, same_dtypes, IntElem};
use crate::ops::util::binary_map;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_int, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct BitShift {
    pub left: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let left = match cx.string_opt("direction")?.as_deref() {
        Some("LEFT") => true,
        Some("RIGHT") => false,
        other => {
            return Err(Error::Attr {
                attr: "direction".into(),
                msg: format!("must be \"LEFT\" or \"RIGHT\", got {other:?}"),
            })
        }
    };
    Ok(Arc::new(BitShift { left }))
}

/// Shifts `x` by `n` bits.
pub fn shift<T: IntElem>(x: T, n: T, left: bool) -> T {
    let n = n.as_i128();
    if n < 0 || n >= T::BITS as i128 {
        return if !left && x.is_negative() { T::one().wrapping_neg() } else { T::zero() };
    }
    if left {
        x.shl_bits(n as u32)
    } else {
        x.shr_bits(n as u32)
    }
}

impl Op for BitShift {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "BitShift")?;
        let y = input(inputs, 1, "BitShift")?;
        let dt = same_dtypes("BitShift", &[x, y])?;
        let left = self.left;
        let out = dispatch_int!(dt, T => binary_map::<T, T>(x, y, |a, b| shift(a, b, left)));
        Ok(vec![named("BitShift", out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_broadcast(inputs, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts() {
        assert_eq!(shift(1u8, 7, true), 128);
        assert_eq!(shift(1u8, 8, true), 0);
        assert_eq!(shift(-8i8, 1, false), -4);
        assert_eq!(shift(-8i8, 9, false), -1);
        assert_eq!(shift(-8i8, -1, false), -1);
        assert_eq!(shift(8i8, -1, false), 0);
        assert_eq!(shift(64i8, 1, true), -128);
        assert_eq!(shift(-1i32, 31, true), i32::MIN);
        assert_eq!(shift(u64::MAX, 63, false), 1);
    }
}
