//! `GatherGrad(dy, indices, like)` (attribute `axis`, default 0): the gradient of
//! `Gather(data, indices, axis)` with respect to `data` (shape of `like`): rows of `dy`
//! scatter-added into zeros at `indices` (repeated indices accumulate; negative ones wrap).

use crate::ops::nn::common::from_f64_vec;
use crate::ops::util::{ints_of, norm_axis};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, ensure, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct GatherGrad {
    pub axis: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(GatherGrad { axis: cx.int("axis", 0)? }))
}

impl Op for GatherGrad {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let dy = input(inputs, 0, "GatherGrad")?;
        let ind = input(inputs, 1, "GatherGrad")?;
        let like = input(inputs, 2, "GatherGrad")?;
        super::check_float("GatherGrad", dy, like.dtype())?;
        let ds = like.shape();
        let axis = norm_axis(self.axis, ds.len())?;
        let mut want = ds[..axis].to_vec();
        want.extend(ind.shape());
        want.extend(&ds[axis + 1..]);
        ensure!(dy.shape() == want, "GatherGrad: gradient shape {:?}, expected {want:?}", dy.shape());
        let outer: usize = ds[..axis].iter().product();
        let inner: usize = ds[axis + 1..].iter().product();
        let a = ds[axis];
        let idx = ints_of(ind)?;
        let dv = dy.to_f64_vec();
        let mut acc = vec![0.0f64; like.len()];
        for o in 0..outer {
            for (j, &raw) in idx.iter().enumerate() {
                let r = if raw < 0 { raw + a as i64 } else { raw };
                if r < 0 || r >= a as i64 {
                    bail!("GatherGrad: index {raw} out of range for axis of size {a}");
                }
                let dst = (o * a + r as usize) * inner;
                let src = (o * idx.len() + j) * inner;
                for k in 0..inner {
                    acc[dst + k] += dv[src + k];
                }
            }
        }
        Ok(vec![from_f64_vec(like.dtype(), ds.to_vec(), acc)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(inputs
            .get(2)
            .and_then(|i| i.info)
            .map(|i| vec![ValueInfo::new("", i.dtype, i.shape.clone())])
            .unwrap_or_default())
    }
}
