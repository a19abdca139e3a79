//! TensorScatter (opset 24): writes `update` into a copy of the cache `past_cache` along the
//! sequence `axis`, starting at `write_indices[batch]` (0 if absent); `mode` linear or circular.

use super::common::{axis_of, dtype_of, out, prod, shape_of};
use crate::ops::util::ints_of;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, dispatch_all, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct TensorScatter {
    pub axis: i64,
    pub circular: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let circular = match cx.string("mode", "linear")?.as_str() {
        "linear" => false,
        "circular" => true,
        m => return Err(crate::Error::Attr { attr: "mode".into(), msg: format!("unknown mode '{m}'") }),
    };
    Ok(Arc::new(TensorScatter { axis: cx.int("axis", -2)?, circular }))
}

fn run_typed<T: Elem>(past: &Tensor, upd: &Tensor, axis: usize, starts: &[usize]) -> Result<Tensor> {
    let mut out = past.clone();
    let u = upd.as_slice::<T>()?;
    let o = out.as_mut_slice::<T>()?;
    let shape = past.shape();
    let (max_len, seq) = (shape[axis], upd.shape()[axis]);
    let inner = prod(&shape[axis + 1..]);
    let outer = prod(&shape[..axis]);
    let per_batch = if shape.is_empty() { 1 } else { outer / shape[0].max(1) };
    for p in 0..outer {
        let b = p.checked_div(per_batch).unwrap_or(0);
        for s in 0..seq {
            let dst = (starts[b] + s) % max_len;
            let src = (p * seq + s) * inner;
            let d = (p * max_len + dst) * inner;
            o[d..d + inner].copy_from_slice(&u[src..src + inner]);
        }
    }
    Ok(out)
}

impl Op for TensorScatter {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let past = input(inputs, 0, "TensorScatter")?;
        let upd = input(inputs, 1, "TensorScatter")?;
        let r = past.rank();
        if r < 2 || upd.rank() != r || upd.dtype() != past.dtype() {
            bail!(
                "TensorScatter: cache {:?} and update {:?} ({}) do not match",
                past.shape(),
                upd.shape(),
                upd.dtype()
            );
        }
        let axis = axis_of(self.axis, r)?;
        if axis == 0 {
            bail!("TensorScatter: axis must not be the batch axis");
        }
        for d in 0..r {
            let ok = if d == axis { upd.shape()[d] <= past.shape()[d] } else { upd.shape()[d] == past.shape()[d] };
            if !ok {
                bail!("TensorScatter: update {:?} incompatible with cache {:?}", upd.shape(), past.shape());
            }
        }
        let batch = past.shape()[0];
        let max_len = past.shape()[axis];
        let seq = upd.shape()[axis];
        let starts: Vec<usize> = match opt_input(inputs, 2) {
            Some(w) => {
                let v = ints_of(w)?;
                if v.len() != batch {
                    bail!("TensorScatter: write_indices has {} entries for batch {batch}", v.len());
                }
                v.iter()
                    .map(|&i| {
                        if i < 0 || i as usize > max_len || (!self.circular && i as usize + seq > max_len) {
                            bail!("TensorScatter: write index {i} out of range for cache length {max_len} and update length {seq}");
                        }
                        Ok(i as usize)
                    })
                    .collect::<Result<_>>()?
            }
            None => vec![0; batch],
        };
        if max_len == 0 && seq > 0 {
            bail!("TensorScatter: empty cache axis");
        }
        Ok(vec![dispatch_all!(past.dtype(), T => run_typed::<T>(past, upd, axis, &starts))?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(out(dtype_of(inputs, 0), shape_of(inputs, 0)))
    }
}
