//! SpaceToDepth: moves `blocksize x blocksize` spatial blocks into channels on an NCHW input
//! (`mode` DCR, the default, or CRD from opset 28).

use super::common::{block_attrs, dtype_of, out, transpose_as};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct SpaceToDepth {
    pub blocksize: usize,
    pub crd: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let (blocksize, crd) = block_attrs(cx)?;
    Ok(Arc::new(SpaceToDepth { blocksize, crd }))
}

impl Op for SpaceToDepth {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "SpaceToDepth")?;
        let b = self.blocksize;
        let &[n, c, h, w] = x.shape() else { bail!("SpaceToDepth: input must be 4-D, got {:?}", x.shape()) };
        if h % b != 0 || w % b != 0 {
            bail!("SpaceToDepth: spatial dims {h}x{w} not divisible by blocksize {b}");
        }
        let view = [n, c, h / b, b, w / b, b];
        let perm: &[usize] = if self.crd { &[0, 1, 3, 5, 2, 4] } else { &[0, 3, 5, 1, 2, 4] };
        let t = transpose_as(x, &view, perm)?;
        Ok(vec![t.reshape(vec![n, c * b * b, h / b, w / b])?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(out(dtype_of(inputs, 0), None))
    }
}
