//! DepthToSpace: moves channel blocks into `blocksize x blocksize` spatial blocks
//! (`mode` DCR, the default, or CRD) on an NCHW input.

use super::common::{block_attrs, dtype_of, out, transpose_as};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct DepthToSpace {
    pub blocksize: usize,
    pub crd: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let (blocksize, crd) = block_attrs(cx)?;
    Ok(Arc::new(DepthToSpace { blocksize, crd }))
}

impl Op for DepthToSpace {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "DepthToSpace")?;
        let b = self.blocksize;
        let &[n, c, h, w] = x.shape() else { bail!("DepthToSpace: input must be 4-D, got {:?}", x.shape()) };
        if c % (b * b) != 0 {
            bail!("DepthToSpace: channels {c} not divisible by blocksize^2 = {}", b * b);
        }
        let c2 = c / (b * b);
        let t = if self.crd {
            transpose_as(x, &[n, c2, b, b, h, w], &[0, 1, 4, 2, 5, 3])?
        } else {
            transpose_as(x, &[n, b, b, c2, h, w], &[0, 3, 4, 1, 5, 2])?
        };
        Ok(vec![t.reshape(vec![n, c2, h * b, w * b])?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(out(dtype_of(inputs, 0), None))
    }
}
