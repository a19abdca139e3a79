//! Tile: repeats the input `repeats[i]` times along each axis (opset 1: one `tiles` count along `axis`).

use super::common::{axis_map_index, axis_of, dtype_of, out, take};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Tile {
    pub legacy: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Tile { legacy: cx.opset < 6 }))
}

impl Op for Tile {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Tile")?;
        let r = x.rank();
        let reps = if self.legacy {
            let tiles = ints_of(input(inputs, 1, "Tile")?)?;
            let axis = ints_of(input(inputs, 2, "Tile")?)?;
            let (Some(&t), Some(&a)) = (tiles.first(), axis.first()) else { bail!("Tile: empty tiles/axis") };
            let mut v = vec![1; r];
            v[axis_of(a, r)?] = t;
            v
        } else {
            ints_of(input(inputs, 1, "Tile")?)?
        };
        if reps.len() != r || reps.iter().any(|&v| v < 0) {
            bail!("Tile: repeats {reps:?} invalid for input of rank {r}");
        }
        let shape: Vec<usize> = x.shape().iter().zip(&reps).map(|(&d, &k)| d.saturating_mul(k as usize)).collect();
        if checked_numel(&shape, x.dtype(), "Tile output")? == 0 {
            return Ok(vec![Tensor::zeros(x.dtype(), shape)?]);
        }
        let maps: Vec<Vec<Option<usize>>> =
            x.shape().iter().zip(&shape).map(|(&d, &n)| (0..n).map(|o| Some(o % d)).collect()).collect();
        let idx = axis_map_index(x.shape(), &shape, &maps);
        Ok(vec![take(x, &idx, shape, None)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(out(dtype_of(inputs, 0), None))
    }
}
