//! Split: cuts the input along `axis` into parts given by `split` (attribute before opset 13,
//! input after), or equal parts (opset 18: `num_outputs`, last part may be smaller).

use super::common::{axis_of, prod};
use crate::ops::util::ints_of;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, dispatch_all, Elem, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct Split {
    pub axis: i64,
    pub split_attr: Option<Vec<i64>>,
    pub num_outputs: Option<i64>,
    pub n_outputs: usize,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let split_attr = if cx.opset < 13 { cx.ints_opt("split")? } else { None };
    let num_outputs = if cx.opset >= 18 { cx.int_opt("num_outputs")? } else { None };
    Ok(Arc::new(Split { axis: cx.int("axis", 0)?, split_attr, num_outputs, n_outputs: cx.n_outputs }))
}

impl Split {
    fn sizes(&self, dim: usize, split_in: Option<&Tensor>) -> Result<Vec<usize>> {
        let explicit = match (&self.split_attr, split_in) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(t)) => Some(ints_of(t)?),
            _ => None,
        };
        if let Some(s) = explicit {
            if s.iter().any(|&v| v < 0) || s.iter().map(|&v| v as u128).sum::<u128>() != dim as u128 {
                bail!("Split: sizes {s:?} do not add up to {dim}");
            }
            if s.len() != self.n_outputs {
                bail!("Split: {} sizes for {} outputs", s.len(), self.n_outputs);
            }
            return Ok(s.iter().map(|&v| v as usize).collect());
        }
        let n = match self.num_outputs {
            Some(n) if n > 0 => n as usize,
            Some(n) => bail!("Split: num_outputs {n} must be positive"),
            None => self.n_outputs,
        };
        if n == 0 {
            bail!("Split: no outputs");
        }
        if self.num_outputs.is_some() {
            let chunk = dim.div_ceil(n);
            let mut left = dim;
            Ok((0..n)
                .map(|_| {
                    let c = chunk.min(left);
                    left -= c;
                    c
                })
                .collect())
        } else {
            if !dim.is_multiple_of(n) {
                bail!("Split: axis size {dim} does not split into {n} equal parts");
            }
            Ok(vec![dim / n; n])
        }
    }
}

fn split_typed<T: Elem>(x: &Tensor, axis: usize, sizes: &[usize]) -> Result<Vec<Tensor>> {
    let s = x.as_slice::<T>()?;
    let outer = prod(&x.shape()[..axis]);
    let inner = prod(&x.shape()[axis + 1..]);
    let dim = x.shape()[axis];
    let mut outs = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for &sz in sizes {
        let mut data = Vec::with_capacity(outer * sz * inner);
        for o in 0..outer {
            let base = (o * dim + start) * inner;
            data.extend_from_slice(&s[base..base + sz * inner]);
        }
        let mut shape = x.shape().to_vec();
        shape[axis] = sz;
        outs.push(Tensor::from_vec(shape, data)?);
        start += sz;
    }
    Ok(outs)
}

impl Op for Split {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Split")?;
        let axis = axis_of(self.axis, x.rank())?;
        if x.rank() == 0 {
            bail!("Split: input must have rank >= 1");
        }
        let sizes = self.sizes(x.shape()[axis], opt_input(inputs, 1))?;
        dispatch_all!(x.dtype(), T => split_typed::<T>(x, axis, &sizes))
    }
}
