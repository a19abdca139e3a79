//! `com.zenrt.FusedConv`: Conv (all of Conv's attributes) followed by an activation; an optional
//! input 3, the residual `Z` (shaped like the output), is added before it:
//! `act(conv(X, W) + B + Z)` (pass `fuse_conv_add`; the CUDA backend reads it the same way).

use super::Activation;
use crate::ops::nn::common::Window;
use crate::ops::nn::conv::{conv_act_tensor, infer_conv, parse_group, PackedConv};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct FusedConv {
    pub win: Window,
    pub group: usize,
    pub act: Activation,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(FusedConv { win: Window::parse(cx, false)?, group: parse_group(cx)?, act: Activation::parse(cx)? }))
}

impl Op for FusedConv {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "FusedConv")?;
        let w = input(inputs, 1, "FusedConv")?;
        // The activation runs in the kernel's epilogue (f32 path) or after (f64).
        let (b, z) = (opt_input(inputs, 2), opt_input(inputs, 3));
        Ok(vec![conv_act_tensor(x, w, None, b, z, &self.win, self.group, self.act)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_conv(&self.win, inputs, None))
    }

    fn prepare(&self, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        PackedConv::prepare(&self.win, self.group, self.act, consts, None)
    }

    fn prepare_shaped(&self, consts: &[Option<&Tensor>], inputs: &[Option<&ValueInfo>]) -> Result<Option<Arc<dyn Op>>> {
        PackedConv::prepare(&self.win, self.group, self.act, consts, inputs.first().copied().flatten())
    }
}
