//! `com.zenrt.FusedExpandDepthwise`: a 1×1 expansion convolution (stride 1, no padding, one
//! group) with its activation, followed by a depthwise convolution with its activation — the
//! first half of MobileNet/EfficientNet's inverted-residual blocks (pass
//! `fuse_expand_depthwise`).
//!
//! Inputs: `X [N, C, H, W]`, `W_expand [E, C, 1, 1]`, optional `B_expand [E]`,
//! `W_dw [E, 1, k, k]`, optional `B_dw [E]`. Attributes: the depthwise convolution's
//! (`kernel_shape`, `strides`, `pads`, `dilations`, `auto_pad`, `group` = E, `activation`,
//! `activation_params`) plus `expand_activation` / `expand_activation_params`.
//! f32 runs in bands of rows so the expanded tensor stays in cache
//! (`conv_kernels::expand_dw`); other dtypes and geometries the tiled depthwise kernel does not
//! take run the two convolutions one after the other (the reference).

use super::Activation;
use crate::ops::nn::common::Window;
use crate::ops::nn::conv::{conv_act_tensor, infer_conv, parse_group, ConvShape};
use crate::ops::nn::conv_kernels::expand_dw::{expand_dw_applies, expand_dw_f32, ExpandDw, ExpandWeights};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Result, Tensor, ValueInfo};
use std::sync::Arc;

const OP: &str = "FusedExpandDepthwise";

#[derive(Debug)]
pub struct FusedExpandDepthwise {
    /// The depthwise convolution's window and groups.
    pub win: Window,
    pub group: usize,
    pub act_expand: Activation,
    pub act: Activation,
    /// The expansion weights packed at plan time (constant weights, f32).
    pub packed: Option<Arc<ExpandWeights>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(FusedExpandDepthwise {
        win: Window::parse(cx, false)?,
        group: parse_group(cx)?,
        act_expand: Activation::parse_named(cx, "expand_activation", "expand_activation_params")?,
        act: Activation::parse(cx)?,
        packed: None,
    }))
}

impl FusedExpandDepthwise {
    /// The fused f32 kernel's output, or `None` where it does not apply.
    fn fast(
        &self,
        x: &Tensor,
        we: &Tensor,
        be: Option<&Tensor>,
        wd: &Tensor,
        bd: Option<&Tensor>,
    ) -> Result<Option<Tensor>> {
        let f32s = [Some(x), Some(we), be, Some(wd), bd].iter().flatten().all(|t| t.dtype() == DType::F32);
        let (xs, ws) = (x.shape(), we.shape());
        if !f32s || xs.len() != 4 || ws.len() != 4 || ws[1] != xs[1] || ws[2..] != [1, 1] {
            return Ok(None);
        }
        let cs = ConvShape::new(&[xs[0], ws[0], xs[2], xs[3]], wd.shape(), &self.win, self.group)?;
        if !expand_dw_applies(&cs) {
            return Ok(None);
        }
        let owned;
        let packed = match &self.packed {
            Some(p) if p.e == ws[0] && p.c == ws[1] => p,
            _ => {
                owned = Arc::new(ExpandWeights::new(we.as_slice()?, ws[0], ws[1])?);
                &owned
            }
        };
        let p = ExpandDw {
            x: x.as_slice()?,
            we: packed,
            be: be.map(|b| b.as_slice::<f32>()).transpose()?,
            act_e: self.act_expand,
            wd: wd.as_slice()?,
            bd: bd.map(|b| b.as_slice::<f32>()).transpose()?,
            act_d: self.act,
        };
        let out_shape = cs.out_shape();
        let mut y = crate::memory::alloc_for_overwrite::<f32>(crate::checked_numel(&out_shape, DType::F32, OP)?);
        expand_dw_f32(&p, &cs, &mut y)?;
        Ok(Some(Tensor::from_vec(out_shape, y)?))
    }
}

impl Op for FusedExpandDepthwise {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, OP)?;
        let we = input(inputs, 1, OP)?;
        let be = opt_input(inputs, 2);
        let wd = input(inputs, 3, OP)?;
        let bd = opt_input(inputs, 4);
        if let Some(y) = self.fast(x, we, be, wd, bd)? {
            return Ok(vec![y]);
        }
        let t = conv_act_tensor(x, we, None, be, None, &Window::default(), 1, self.act_expand)?;
        Ok(vec![conv_act_tensor(&t, wd, None, bd, None, &self.win, self.group, self.act)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let at = |i: usize| InferInput { info: inputs.get(i).and_then(|v| v.info), value: None };
        let expanded = infer_conv(&Window::default(), &[at(0), at(1)], None);
        let Some(e) = expanded.first() else { return Ok(vec![]) };
        Ok(infer_conv(&self.win, &[InferInput { info: Some(e), value: None }, at(3)], None))
    }

    fn prepare(&self, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        let Some(we) = consts.get(1).copied().flatten().filter(|w| w.dtype() == DType::F32 && w.shape().len() == 4)
        else {
            return Ok(None);
        };
        let (e, c) = (we.shape()[0], we.shape()[1]);
        let packed = Some(Arc::new(ExpandWeights::new(we.as_slice()?, e, c)?));
        let op = FusedExpandDepthwise {
            win: self.win.clone(),
            group: self.group,
            act_expand: self.act_expand,
            act: self.act,
            packed,
        };
        Ok(Some(Arc::new(op)))
    }
}

#[cfg(test)]
mod tests;
