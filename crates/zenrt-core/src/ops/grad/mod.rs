//! Gradient operators (domain `com.zenrt`), emitted by `zenrt-train`'s reverse-mode autodiff
//! where no forward ONNX operator expresses a backward step. Each has a plain reference kernel
//! and takes a `like` input whose *shape* is the shape of the gradient it produces, so backward
//! graphs need no static shapes.
//!
//! - `SumToShape(x, like)`: sums `x` over the axes that broadcasting expanded from `like`'s shape.
//! - `ConvGradInput(dy, w, x_like)` / `ConvGradWeight(dy, x, w_like)`: Conv's input and weight
//!   gradients (same attributes as the Conv node: strides, pads, dilations, group, auto_pad).
//! - `MaxPoolGrad(dy, x)` / `AveragePoolGrad(dy, x_like)`: pooling backward (MaxPool/AveragePool attributes).
//! - `GatherGrad(dy, indices, like)`: Gather's data gradient, a scatter-add of rows (`axis` attribute).
//! - `SliceGrad(dy, like, starts, ends[, axes, steps])`: Slice's gradient, scattered into zeros.

pub mod average_pool_grad;
pub mod conv_grad_input;
pub mod conv_grad_weight;
pub mod gather_grad;
pub mod max_pool_grad;
pub mod slice_grad;
pub mod sum_to_shape;

use super::Registry;
use crate::{bail, DType, Result, Tensor};

/// The domain of zenrt's own operators.
pub const DOMAIN: &str = "com.zenrt";

pub fn register(r: &mut Registry) {
    r.add_domain(DOMAIN, "SumToShape", 1, sum_to_shape::build);
    r.add_domain(DOMAIN, "ConvGradInput", 1, conv_grad_input::build);
    r.add_domain(DOMAIN, "ConvGradWeight", 1, conv_grad_weight::build);
    r.add_domain(DOMAIN, "MaxPoolGrad", 1, max_pool_grad::build);
    r.add_domain(DOMAIN, "AveragePoolGrad", 1, average_pool_grad::build);
    r.add_domain(DOMAIN, "GatherGrad", 1, gather_grad::build);
    r.add_domain(DOMAIN, "SliceGrad", 1, slice_grad::build);
}

/// Checks that a gradient input is a float tensor of the dtype of `like`.
pub(crate) fn check_float(op: &str, t: &Tensor, want: DType) -> Result<()> {
    if !t.dtype().is_float() || t.dtype() != want {
        bail!("{op}: expected a {want} float tensor, got {}", t.dtype());
    }
    Ok(())
}
