//! ScatterND: writes slices of `updates` into a copy of `data` at index tuples from the last
//! axis of `indices`, combining with `reduction` (none/add/mul/max/min).

use super::common::{norm_index, prod, Reduction};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, dispatch_all, Elem, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct ScatterND {
    pub reduction: Reduction,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ScatterND { reduction: Reduction::parse(&cx.string("reduction", "none")?)? }))
}

fn scatter_typed<T: Elem>(x: &Tensor, offsets: &[usize], slice: usize, upd: &Tensor, red: Reduction) -> Result<Tensor> {
    let mut out = x.clone();
    let u = upd.as_slice::<T>()?;
    let o = out.as_mut_slice::<T>()?;
    for (t, &off) in offsets.iter().enumerate() {
        for j in 0..slice {
            o[off + j] = red.apply(o[off + j], u[t * slice + j]);
        }
    }
    Ok(out)
}

impl Op for ScatterND {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "ScatterND")?;
        let ind = input(inputs, 1, "ScatterND")?;
        let upd = input(inputs, 2, "ScatterND")?;
        let (r, q) = (x.rank(), ind.rank());
        if q < 1 || r < 1 {
            bail!("ScatterND: data and indices must have rank >= 1");
        }
        let k = ind.shape()[q - 1];
        if k > r {
            bail!("ScatterND: index tuples of length {k} too long for data rank {r}");
        }
        let mut ushape = ind.shape()[..q - 1].to_vec();
        ushape.extend_from_slice(&x.shape()[k..]);
        if upd.shape() != ushape.as_slice() || upd.dtype() != x.dtype() {
            bail!("ScatterND: updates {:?} ({}) must have shape {ushape:?} ({})", upd.shape(), upd.dtype(), x.dtype());
        }
        let ids = ints_of(ind)?;
        let strides = x.strides();
        let n_tuples = prod(&ind.shape()[..q - 1]);
        let slice = prod(&x.shape()[k..]);
        let mut offsets = Vec::with_capacity(n_tuples);
        for t in 0..n_tuples {
            let mut off = 0;
            for j in 0..k {
                off += norm_index(ids[t * k + j], x.shape()[j], "ScatterND")? * strides[j];
            }
            offsets.push(off);
        }
        Ok(vec![dispatch_all!(x.dtype(), T => scatter_typed::<T>(x, &offsets, slice, upd, self.reduction))?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tensor::common::NoCtx;

    #[test]
    fn add_duplicates_and_bounds() {
        let x = Tensor::from_vec(vec![4], vec![1f32, 2., 3., 4.]).unwrap();
        let ind = Tensor::from_vec(vec![3, 1], vec![0i64, 0, -1]).unwrap();
        let upd = Tensor::from_vec(vec![3], vec![10f32, 20., 5.]).unwrap();
        let op = ScatterND { reduction: Reduction::Add };
        let y = op.run(&NoCtx, &[Some(&x), Some(&ind), Some(&upd)]).unwrap().remove(0);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[31., 2., 3., 9.]);
        let bad = Tensor::from_vec(vec![3, 1], vec![0i64, 4, 1]).unwrap();
        assert!(op.run(&NoCtx, &[Some(&x), Some(&bad), Some(&upd)]).is_err());
    }
}
