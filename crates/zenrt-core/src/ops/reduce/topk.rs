//! TopK: the k largest (or smallest) elements along `axis` and their int64 indices.
//! k is an attribute in opset 1 and a one-element int64 input from opset 10; `largest` and
//! `sorted` arrived in opset 11. Results are always returned sorted (allowed when sorted=0);
//! ties go to the lower index; NaN orders above every number (first when largest, last when
//! smallest), as in the onnx reference.

use crate::ops::util::{ints_of, norm_axis};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, dispatch_numeric, DType, Dim, Elem, Error, Result, Tensor, ValueInfo};
use std::cmp::Ordering;
use std::sync::Arc;

#[derive(Debug)]
pub struct TopK {
    /// `Some` for opset < 10 (attribute).
    k_attr: Option<i64>,
    axis: i64,
    largest: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let k_attr = if cx.opset < 10 { Some(cx.req_int("k")?) } else { None };
    Ok(Arc::new(TopK { k_attr, axis: cx.int("axis", -1)?, largest: cx.int("largest", 1)? != 0 }))
}

/// Total order with NaN above everything.
#[allow(clippy::eq_op)]
fn total_cmp<T: Elem>(a: T, b: T) -> Ordering {
    match (a != a, b != b) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn k_of(t: &Tensor) -> Result<i64> {
    let v = ints_of(t)?;
    match v.as_slice() {
        [k] => Ok(*k),
        _ => bail!("TopK: K must hold exactly one value, got shape {:?}", t.shape()),
    }
}

fn topk_typed<T: Elem>(
    x: &Tensor,
    axis: usize,
    k: usize,
    largest: bool,
    out_shape: Vec<usize>,
) -> Result<(Tensor, Tensor)> {
    let xs = x.as_slice::<T>()?;
    let shape = x.shape();
    let n = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let total = outer * k * inner;
    let mut vals = vec![T::zero(); total];
    let mut idxs = vec![0i64; total];
    let cmp = |a: &(T, usize), b: &(T, usize)| {
        let by_value = if largest { total_cmp(b.0, a.0) } else { total_cmp(a.0, b.0) };
        by_value.then(a.1.cmp(&b.1))
    };
    let mut lane: Vec<(T, usize)> = Vec::with_capacity(n);
    if k > 0 {
        for o in 0..outer {
            for i in 0..inner {
                lane.clear();
                lane.extend((0..n).map(|j| (xs[(o * n + j) * inner + i], j)));
                if k < n {
                    lane.select_nth_unstable_by(k - 1, cmp);
                    lane.truncate(k);
                }
                lane.sort_unstable_by(cmp);
                for (r, &(v, j)) in lane.iter().enumerate() {
                    let dst = (o * k + r) * inner + i;
                    vals[dst] = v;
                    idxs[dst] = j as i64;
                }
            }
        }
    }
    Ok((Tensor::from_vec(out_shape.clone(), vals)?, Tensor::from_vec(out_shape, idxs)?))
}

impl Op for TopK {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "TopK")?;
        let k = match self.k_attr {
            Some(k) => k,
            None => k_of(input(inputs, 1, "TopK")?)?,
        };
        if x.rank() == 0 {
            bail!("TopK: input must have rank >= 1");
        }
        let axis = norm_axis(self.axis, x.rank())?;
        let n = x.shape()[axis];
        if k < 0 || k as u64 > n as u64 {
            bail!("TopK: k = {k} is out of range for axis {axis} of size {n}");
        }
        let k = k as usize;
        let mut out_shape = x.shape().to_vec();
        out_shape[axis] = k;
        checked_numel(&out_shape, DType::I64, "TopK output")?;
        let (v, i) = dispatch_numeric!(x.dtype(), T => topk_typed::<T>(x, axis, k, self.largest, out_shape)).map_err(
            |e| match e {
                Error::UnsupportedDType { dtype, .. } => Error::UnsupportedDType { op: "TopK".into(), dtype },
                e => e,
            },
        )?;
        Ok(vec![v, i])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let Some(info) = inputs.first().and_then(|i| i.info) else { return Ok(vec![]) };
        let k = match self.k_attr {
            Some(k) => Some(k),
            None => inputs.get(1).and_then(|i| i.value).and_then(|t| k_of(t).ok()),
        };
        let shape = info.shape.as_ref().and_then(|dims| {
            let axis = norm_axis(self.axis, dims.len()).ok()?;
            let mut d = dims.clone();
            d[axis] = match k {
                Some(k) if k >= 0 => Dim::Known(k as usize),
                _ => Dim::Unknown,
            };
            Some(d)
        });
        Ok(vec![ValueInfo::new("", info.dtype, shape.clone()), ValueInfo::new("", Some(DType::I64), shape)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_and_axis() {
        // shape [2,3] along axis 0 (inner stride 3), k = 1
        let x = Tensor::from_vec(vec![2, 3], vec![1f32, 5., 2., 1., 3., 7.]).unwrap();
        let (v, i) = topk_typed::<f32>(&x, 0, 1, true, vec![1, 3]).unwrap();
        assert_eq!(v.to_f64_vec(), vec![1., 5., 7.]);
        assert_eq!(i.to_i64_vec(), vec![0, 0, 1]);
        let x = Tensor::from_vec(vec![5], vec![3i32, 1, 3, 1, 2]).unwrap();
        let (v, i) = topk_typed::<i32>(&x, 0, 3, true, vec![3]).unwrap();
        assert_eq!(v.to_i64_vec(), vec![3, 3, 2]);
        assert_eq!(i.to_i64_vec(), vec![0, 2, 4]);
        let (v, i) = topk_typed::<i32>(&x, 0, 2, false, vec![2]).unwrap();
        assert_eq!(v.to_i64_vec(), vec![1, 1]);
        assert_eq!(i.to_i64_vec(), vec![1, 3]);
    }
}
