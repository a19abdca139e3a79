//! SpaceToDepth: moves `blocksize x blocksize` spatial blocks into channels on an NCHW input
//! (`mode` DCR, the default, or CRD from opset 28).

use super::common::{dtype_of, out, transpose_as};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct SpaceToDepth {
    pub blocksize: usize,
    pub crd: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let b = cx.req_int("blocksize")?;
    if b <= 0 {
        return Err(Error::Attr { attr: "blocksize".into(), msg: format!("must be positive, got {b}") });
    }
    let crd = match cx.string("mode", "DCR")?.as_str() {
        "DCR" => false,
        "CRD" => true,
        m => return Err(Error::Attr { attr: "mode".into(), msg: format!("unknown mode '{m}'") }),
    };
    Ok(Arc::new(SpaceToDepth { blocksize: b as usize, crd }))
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
