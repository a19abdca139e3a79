//! Helpers shared by the (de)quantization operators: the integer range of a quantized type,
//! the index of the scale/zero-point entry for each element (per-tensor, per-axis, blocked),
//! and numpy-style float type promotion.

use crate::{DType, Error, Result};

/// The value range of a supported quantized integer type.
pub fn quant_range(dt: DType) -> Result<(i64, i64)> {
    match dt {
        DType::U8 => Ok((0, 255)),
        DType::I8 => Ok((-128, 127)),
        DType::U16 => Ok((0, 65535)),
        DType::I16 => Ok((-32768, 32767)),
        DType::I32 => Ok((i32::MIN as i64, i32::MAX as i64)),
        other => Err(Error::Unsupported(format!("quantized type {other}"))),
    }
}

/// Maps each flat element index of a tensor of shape `xshape` to the flat index of its
/// scale / zero-point entry, for a parameter of shape `pshape`:
/// one element → per-tensor; 1-D (no `block_size`) → per-axis along `axis`;
/// same rank with `ceil(dim/block_size)` entries along `axis` → blocked.
pub fn param_index(xshape: &[usize], pshape: &[usize], axis: i64, block_size: i64) -> Result<Vec<usize>> {
    let n: usize = xshape.iter().product();
    let pn: usize = pshape.iter().product();
    if pn == 1 {
        return Ok(vec![0; n]);
    }
    let axis = crate::ops::util::norm_axis(axis, xshape.len())?;
    let (outer, len, inner) = super::common::split_at_axis(xshape, axis);
    if block_size <= 0 {
        if pshape.len() != 1 || pshape[0] != len {
            return Err(Error::Shape(format!(
                "per-axis scale of shape {pshape:?} does not match axis {axis} of input {xshape:?}"
            )));
        }
        return Ok((0..n).map(|i| (i / inner) % len).collect());
    }
    let bs = block_size as usize;
    let plen = pshape.get(axis).copied().unwrap_or(0);
    let same_elsewhere =
        pshape.len() == xshape.len() && pshape.iter().zip(xshape).enumerate().all(|(i, (p, x))| i == axis || p == x);
    if !same_elsewhere || plen.saturating_mul(bs) < len || plen == 0 {
        return Err(Error::Shape(format!(
            "blocked scale of shape {pshape:?} does not match input {xshape:?} with block_size {bs} on axis {axis}"
        )));
    }
    let mut out = Vec::with_capacity(n);
    for o in 0..outer {
        for l in 0..len {
            let base = (o * plen + l / bs) * inner;
            out.extend(base..base + inner);
        }
    }
    Ok(out)
}

/// The dtype numpy computes `a op b` in, for the float/int32 types quantization uses.
pub fn promote(a: DType, b: DType) -> DType {
    use DType::*;
    match (a, b) {
        (F64, _) | (_, F64) => F64,
        (x, y) if x == y => x,
        (x, y) if !x.is_float() || !y.is_float() => F64,
        _ => F32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_and_axis() {
        // x [2, 5], blocks of 2 along axis 1 -> 3 blocks
        let idx = param_index(&[2, 5], &[2, 3], 1, 2).unwrap();
        assert_eq!(idx, vec![0, 0, 1, 1, 2, 3, 3, 4, 4, 5]);
        let idx = param_index(&[2, 3], &[3], 1, 0).unwrap();
        assert_eq!(idx, vec![0, 1, 2, 0, 1, 2]);
        assert!(param_index(&[2, 3], &[2], 1, 0).is_err());
        assert_eq!(promote(DType::F16, DType::F32), DType::F32);
    }
}
