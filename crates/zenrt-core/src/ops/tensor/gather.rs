//! Gather: picks slices along `axis` by (possibly negative) indices.

use super::common::{axis_of, dtype_of, norm_index, out, prod, shape_of, take};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Gather {
    pub axis: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Gather { axis: cx.int("axis", 0)? }))
}

impl Op for Gather {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Gather")?;
        let ind = input(inputs, 1, "Gather")?;
        if x.rank() == 0 {
            bail!("Gather: data must have rank >= 1");
        }
        let axis = axis_of(self.axis, x.rank())?;
        let dim = x.shape()[axis];
        let ids: Vec<usize> = ints_of(ind)?.into_iter().map(|i| norm_index(i, dim, "Gather")).collect::<Result<_>>()?;
        let outer = prod(&x.shape()[..axis]);
        let inner = prod(&x.shape()[axis + 1..]);
        let mut shape = x.shape()[..axis].to_vec();
        shape.extend_from_slice(ind.shape());
        shape.extend_from_slice(&x.shape()[axis + 1..]);
        let n = checked_numel(&shape, x.dtype(), "Gather output")?;
        if inner >= 4 {
            // Rows of `inner` contiguous elements (embedding lookups): one copy per index, no
            // per-element index list, into a buffer from the run's pool (a fresh 1 MiB one cost
            // BERT's token-type lookup its page faults on every run).
            return crate::dispatch_all!(x.dtype(), T => {
                let src = x.as_slice::<T>()?;
                let mut o = crate::memory::alloc_for_overwrite::<T>(n);
                let rows = (0..outer).flat_map(|b| ids.iter().map(move |&i| (b * dim + i) * inner));
                for (dst, base) in o.chunks_exact_mut(inner).zip(rows) {
                    dst.copy_from_slice(&src[base..base + inner]);
                }
                Ok(vec![Tensor::from_vec(shape, o)?])
            });
        }
        let mut idx = Vec::with_capacity(n);
        for o in 0..outer {
            for &i in &ids {
                let base = (o * dim + i) * inner;
                idx.extend(base..base + inner);
            }
        }
        Ok(vec![take(x, &idx, shape, None)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let shape = match (shape_of(inputs, 0), shape_of(inputs, 1)) {
            (Some(d), Some(i)) => axis_of(self.axis, d.len()).ok().map(|axis| {
                let mut s = d[..axis].to_vec();
                s.extend(i);
                s.extend_from_slice(&d[axis + 1..]);
                s
            }),
            _ => None,
        };
        Ok(out(dtype_of(inputs, 0), shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tensor::common::NoCtx;

    /// Row copies (inner ≥ 4) and element lists (inner < 4) against a direct reference, on
    /// every axis of a rank-3 tensor, with negative indices and a 2-D index tensor.
    #[test]
    fn rows_and_elements_match_reference() {
        for inner_len in [1usize, 3, 4, 7] {
            let shape = [3usize, 5, inner_len];
            let n: usize = shape.iter().product();
            let x = Tensor::from_vec(shape.to_vec(), (0..n).map(|v| v as f32 * 0.5).collect::<Vec<_>>()).unwrap();
            for axis in 0..3usize {
                let dim = shape[axis] as i64;
                let raw: Vec<i64> = vec![0, dim - 1, -1, (dim / 2), -dim, 0];
                let ind = Tensor::from_vec(vec![2, 3], raw.clone()).unwrap();
                let y = Gather { axis: axis as i64 }.run(&NoCtx, &[Some(&x), Some(&ind)]).unwrap().remove(0);
                let mut want_shape = shape[..axis].to_vec();
                want_shape.extend([2, 3]);
                want_shape.extend_from_slice(&shape[axis + 1..]);
                assert_eq!(y.shape(), want_shape.as_slice());
                let (outer, inner): (usize, usize) =
                    (shape[..axis].iter().product(), shape[axis + 1..].iter().product());
                let mut want = vec![];
                for o in 0..outer {
                    for &r in &raw {
                        let i = if r < 0 { r + dim } else { r } as usize;
                        for j in 0..inner {
                            want.push(((o * shape[axis] + i) * inner + j) as f32 * 0.5);
                        }
                    }
                }
                assert_eq!(y.as_slice::<f32>().unwrap(), want.as_slice(), "inner {inner_len} axis {axis}");
            }
        }
    }

    #[test]
    fn negative_and_out_of_range() {
        let x = Tensor::from_vec(vec![3, 2], vec![0i64, 1, 2, 3, 4, 5]).unwrap();
        let ok = Tensor::from_vec(vec![2], vec![-1i64, 0]).unwrap();
        let g = Gather { axis: 0 };
        let y = g.run(&NoCtx, &[Some(&x), Some(&ok)]).unwrap().remove(0);
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.as_slice::<i64>().unwrap(), &[4, 5, 0, 1]);
        let g1 = Gather { axis: 1 };
        let y = g1.run(&NoCtx, &[Some(&x), Some(&Tensor::scalar(1i32))]).unwrap().remove(0);
        assert_eq!(y.as_slice::<i64>().unwrap(), &[1, 3, 5]);
        let bad = Tensor::from_vec(vec![1], vec![3i64]).unwrap();
        assert!(g.run(&NoCtx, &[Some(&x), Some(&bad)]).is_err());
        let bad = Tensor::from_vec(vec![1], vec![-4i64]).unwrap();
        assert!(g.run(&NoCtx, &[Some(&x), Some(&bad)]).is_err());
        // Rank-0 data has no axis: error, not panic.
        assert!(g.run(&NoCtx, &[Some(&Tensor::scalar(1f32)), Some(&ok)]).is_err());
        // Inference on a scalar must not panic either.
        let vi = crate::ValueInfo::new("", Some(crate::DType::F32), Some(vec![]));
        let inp = [InferInput { info: Some(&vi), value: None }, InferInput { info: Some(&vi), value: None }];
        assert!(g.infer(&inp).is_ok());
    }
}
