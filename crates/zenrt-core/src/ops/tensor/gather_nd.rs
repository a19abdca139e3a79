//! GatherND: gathers slices of `data` addressed by the last axis of `indices`, with `batch_dims`
//! leading batch axes shared by both.

use super::common::{norm_index, prod, take};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, checked_numel, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct GatherND {
    pub batch_dims: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(GatherND { batch_dims: cx.int("batch_dims", 0)? }))
}

impl Op for GatherND {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "GatherND")?;
        let ind = input(inputs, 1, "GatherND")?;
        let (r, q) = (x.rank(), ind.rank());
        let b = self.batch_dims;
        if b < 0 || q < 1 || r < 1 || b as usize >= q.min(r) {
            bail!("GatherND: batch_dims {b} invalid for data rank {r} and indices rank {q}");
        }
        let b = b as usize;
        let k = ind.shape()[q - 1];
        if k + b > r {
            bail!("GatherND: index tuples of length {k} too long for data rank {r} with {b} batch dims");
        }
        if x.shape()[..b] != ind.shape()[..b] {
            bail!("GatherND: batch dims of data {:?} and indices {:?} differ", x.shape(), ind.shape());
        }
        let ids = ints_of(ind)?;
        let batch = prod(&x.shape()[..b]);
        let per_batch_tuples = prod(&ind.shape()[b..q - 1]);
        let slice = prod(&x.shape()[b + k..]);
        let batch_stride = prod(&x.shape()[b..]);
        let strides = x.strides();
        let mut shape = ind.shape()[..q - 1].to_vec();
        shape.extend_from_slice(&x.shape()[b + k..]);
        let n = checked_numel(&shape, x.dtype(), "GatherND output")?;
        let mut idx = Vec::with_capacity(n);
        for bi in 0..batch {
            for t in 0..per_batch_tuples {
                let tup = &ids[(bi * per_batch_tuples + t) * k..(bi * per_batch_tuples + t + 1) * k];
                let mut off = bi * batch_stride;
                for (j, &v) in tup.iter().enumerate() {
                    off += norm_index(v, x.shape()[b + j], "GatherND")? * strides[b + j];
                }
                idx.extend(off..off + slice);
            }
        }
        Ok(vec![take(x, &idx, shape, None)?])
    }
}
