//! CenterCropPad: center-crops or zero-pads the `axes` (default all) to the sizes in `shape`.

use super::common::{axis_map_index, dims_from, norm_axes, take};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, checked_numel, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct CenterCropPad {
    pub axes: Option<Vec<i64>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(CenterCropPad { axes: cx.ints_opt("axes")? }))
}

impl Op for CenterCropPad {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "CenterCropPad")?;
        let sizes = dims_from(&ints_of(input(inputs, 1, "CenterCropPad")?)?, "CenterCropPad shape")?;
        let r = x.rank();
        let axes = match &self.axes {
            Some(a) => norm_axes(a, r)?,
            None => (0..r).collect(),
        };
        if axes.len() != sizes.len() {
            bail!("CenterCropPad: {} sizes for {} axes", sizes.len(), axes.len());
        }
        let mut shape = x.shape().to_vec();
        for (&a, &s) in axes.iter().zip(&sizes) {
            shape[a] = s;
        }
        if checked_numel(&shape, x.dtype(), "CenterCropPad output")? == 0 {
            return Ok(vec![Tensor::zeros(x.dtype(), shape)?]);
        }
        let maps: Vec<Vec<Option<usize>>> = (0..r)
            .map(|a| {
                let (d, s) = (x.shape()[a], shape[a]);
                if s <= d {
                    let off = (d - s) / 2;
                    (0..s).map(|o| Some(o + off)).collect()
                } else {
                    let off = (s - d) / 2;
                    (0..s).map(|o| if o >= off && o - off < d { Some(o - off) } else { None }).collect()
                }
            })
            .collect();
        let idx = axis_map_index(x.shape(), &shape, &maps);
        Ok(vec![take(x, &idx, shape, None)?])
    }
}
