//! `com.zenrt.FusedGemm`: Gemm (all of Gemm's attributes) followed by an activation.

use super::Activation;
use crate::ops::linalg::gemm::Gemm;
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct FusedGemm {
    pub gemm: Gemm,
    pub act: Activation,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(FusedGemm { gemm: Gemm::parse(cx)?, act: Activation::parse(cx)? }))
}

impl Op for FusedGemm {
    fn run(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let y = self
            .gemm
            .run(ctx, inputs)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Invalid("FusedGemm: no output".into()))?;
        Ok(vec![self.act.apply(y)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        self.gemm.infer(inputs)
    }
}
