//! `com.zenrt.FusedGemm`: Gemm (all of Gemm's attributes) followed by an activation.

use super::Activation;
use crate::ops::linalg::gemm::{Gemm, PackedGemm};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Error, Result, Tensor, ValueInfo};
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
        let (a, b, c) = (input(inputs, 0, "FusedGemm")?, input(inputs, 1, "FusedGemm")?, opt_input(inputs, 2));
        if a.dtype() == DType::F32 && b.dtype() == DType::F32 && c.is_none_or(|c| c.dtype() == DType::F32) {
            // The activation runs in the GEMM's epilogue.
            return Ok(vec![self.gemm.run_f32(a, b, None, c, self.act)?]);
        }
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

    fn prepare(&self, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        PackedGemm::prepare(&self.gemm, self.act, consts)
    }
}
