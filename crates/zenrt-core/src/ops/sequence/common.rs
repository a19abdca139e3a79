//! Helpers shared by the sequence/optional operators: reading value inputs, normalizing
//! positions, and concatenating tensors along an axis.

use crate::{bail, checked_numel, dispatch_all, ensure, Error, Result, Tensor, Value};

/// Input `i` as a value (absent → error naming the operator).
pub fn value_in<'a>(inputs: &[Option<&'a Value>], i: usize, op: &str) -> Result<&'a Value> {
    inputs.get(i).copied().flatten().ok_or_else(|| Error::Invalid(format!("{op}: required input #{i} is missing")))
}

/// Input `i` as a sequence (an optional holding a sequence is accepted too).
pub fn seq_in<'a>(inputs: &[Option<&'a Value>], i: usize, op: &str) -> Result<&'a [Tensor]> {
    match value_in(inputs, i, op)? {
        Value::Sequence(s) => Ok(s),
        Value::Optional(Some(v)) => v.as_sequence(),
        other => bail!("{op}: input #{i} must be a sequence, got a {}", other.kind_name()),
    }
}

/// Input `i` as a tensor, `None` when absent (or an empty optional).
pub fn opt_tensor_in<'a>(inputs: &[Option<&'a Value>], i: usize, op: &str) -> Result<Option<&'a Tensor>> {
    match inputs.get(i).copied().flatten() {
        None | Some(Value::Optional(None)) => Ok(None),
        Some(Value::Tensor(t)) => Ok(Some(t)),
        Some(Value::Optional(Some(v))) => v.as_tensor().map(Some),
        Some(other) => bail!("{op}: input #{i} must be a tensor, got a {}", other.kind_name()),
    }
}

/// Input `i` as a tensor (required).
pub fn tensor_in<'a>(inputs: &[Option<&'a Value>], i: usize, op: &str) -> Result<&'a Tensor> {
    opt_tensor_in(inputs, i, op)?.ok_or_else(|| Error::Invalid(format!("{op}: required input #{i} is missing")))
}

/// A position given as a single-element integer tensor, normalized against a sequence of
/// length `len`: negative positions count from the back. Valid positions are `[-len, len-1]`,
/// or `[-len, len]` when `allow_end` (inserting after the last element).
pub fn position(t: &Tensor, len: usize, allow_end: bool, op: &str) -> Result<usize> {
    ensure!(t.dtype().is_int() && t.len() == 1, "{op}: position must be one integer, got {}{:?}", t.dtype(), t.shape());
    let p = t.to_i64_vec()[0];
    let n = len as i64;
    let hi = if allow_end { n } else { n - 1 };
    ensure!(p >= -n && p <= hi, "{op}: position {p} is out of range for a sequence of length {len}");
    Ok(if p < 0 { (p + n) as usize } else { p as usize })
}

/// Concatenates tensors of one dtype and equal shapes off `axis` along `axis` (`axis < rank`).
pub fn concat(xs: &[&Tensor], axis: usize, op: &str) -> Result<Tensor> {
    let Some(first) = xs.first() else { bail!("{op}: nothing to concatenate") };
    let rank = first.rank();
    ensure!(axis < rank, "{op}: axis {axis} is out of range for rank {rank}");
    let mut shape = first.shape().to_vec();
    shape[axis] = 0;
    for x in xs {
        ensure!(x.dtype() == first.dtype(), "{op}: mixed element types {} and {}", first.dtype(), x.dtype());
        ensure!(
            x.rank() == rank && x.shape().iter().zip(first.shape()).enumerate().all(|(i, (a, b))| i == axis || a == b),
            "{op}: shape {:?} does not match {:?} off axis {axis}",
            x.shape(),
            first.shape()
        );
        shape[axis] += x.shape()[axis];
    }
    checked_numel(&shape, first.dtype(), op)?;
    let outer: usize = shape[..axis].iter().product();
    dispatch_all!(first.dtype(), T => {
        let parts: Vec<(&[T], usize)> = xs
            .iter()
            .map(|x| Ok((x.as_slice::<T>()?, x.shape()[axis..].iter().product::<usize>())))
            .collect::<Result<_>>()?;
        let mut data: Vec<T> = Vec::with_capacity(shape.iter().product());
        for o in 0..outer {
            for (s, chunk) in &parts {
                data.extend_from_slice(&s[o * chunk..(o + 1) * chunk]);
            }
        }
        Tensor::from_vec(shape, data)
    })
}

/// `[start, start+len)` of axis `axis` of `t` (the axis is kept).
pub fn narrow(t: &Tensor, axis: usize, start: usize, len: usize) -> Result<Tensor> {
    let shape = t.shape();
    ensure!(
        axis < shape.len() && start + len <= shape[axis],
        "range {start}+{len} of axis {axis} is out of bounds for {shape:?}"
    );
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let dim = shape[axis];
    let mut out_shape = shape.to_vec();
    out_shape[axis] = len;
    dispatch_all!(t.dtype(), T => {
        let src = t.as_slice::<T>()?;
        let mut v: Vec<T> = Vec::with_capacity(outer * len * inner);
        for o in 0..outer {
            let s = (o * dim + start) * inner;
            v.extend_from_slice(&src[s..s + len * inner]);
        }
        Tensor::from_vec(out_shape, v)
    })
}

/// A single tensor output wrapped as a value list.
pub fn one(v: impl Into<Value>) -> Vec<Value> {
    vec![v.into()]
}

/// A sequence value.
pub fn seq(ts: Vec<Tensor>) -> Value {
    Value::Sequence(std::sync::Arc::new(ts))
}

/// The error `run` gives for operators that only work on values.
pub fn values_only(op: &str) -> Error {
    Error::Unsupported(format!("{op} works on sequence/optional values (use run_values)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let p = |v: i64, len, end| position(&Tensor::scalar(v), len, end, "t");
        assert_eq!(p(-1, 3, false).unwrap(), 2);
        assert_eq!(p(-3, 3, false).unwrap(), 0);
        assert!(p(3, 3, false).is_err());
        assert_eq!(p(3, 3, true).unwrap(), 3);
        assert!(p(-4, 3, true).is_err());
        assert!(p(0, 0, false).is_err());
        assert_eq!(p(0, 0, true).unwrap(), 0);
        assert!(position(&Tensor::scalar(1.0f32), 3, true, "t").is_err());
    }

    #[test]
    fn concat_and_narrow() {
        let a = Tensor::from_vec(vec![2, 2], vec![1i32, 2, 3, 4]).unwrap();
        let b = Tensor::from_vec(vec![2, 1], vec![5i32, 6]).unwrap();
        let c = concat(&[&a, &b], 1, "t").unwrap();
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(c.as_slice::<i32>().unwrap(), &[1, 2, 5, 3, 4, 6]);
        assert!(concat(&[&a, &b], 0, "t").is_err());
        let n = narrow(&c, 1, 1, 2).unwrap();
        assert_eq!(n.shape(), &[2, 2]);
        assert_eq!(n.as_slice::<i32>().unwrap(), &[2, 5, 4, 6]);
        assert!(narrow(&c, 1, 2, 2).is_err());
    }
}
