//! Fused operators (domain `com.zenrt`), produced by the optimizer's fusion passes, never by
//! exporters. Each one's reference implementation is the unfused sequence it replaces, so a
//! fused graph gives the same outputs as the original; fast kernels (CPU or CUDA) implement the
//! epilogue inside the main loop instead of as a second pass over memory.
//!
//! - `FusedConv`: Conv + optional activation (`activation`, `activation_params` attributes).
//! - `FusedGemm`: Gemm + optional activation.
//! - `FusedMatMul`: MatMul + optional bias (input 2, broadcast on the last axis) + activation.
//! - `FusedAttention`: `Softmax(Q·Kt·scale + mask)·V`.
//! - `FusedElementwise`: a chain of unary/binary elementwise operators in one pass.
//! - `FusedExpandDepthwise`: 1×1 expansion conv + act → depthwise conv + act, in cached bands.

pub mod activation;
pub mod fused_attention;
pub mod fused_conv;
pub mod fused_elementwise;
pub mod fused_expand_dw;
pub mod fused_gemm;
pub mod fused_matmul;

pub use activation::Activation;

use super::Registry;

/// The domain of zenrt's own operators.
pub const DOMAIN: &str = "com.zenrt";

pub fn register(r: &mut Registry) {
    r.add_domain(DOMAIN, "FusedConv", 1, fused_conv::build);
    r.add_domain(DOMAIN, "FusedGemm", 1, fused_gemm::build);
    r.add_domain(DOMAIN, "FusedMatMul", 1, fused_matmul::build);
    r.add_domain(DOMAIN, "FusedAttention", 1, fused_attention::build);
    r.add_domain(DOMAIN, "FusedElementwise", 1, fused_elementwise::build);
    r.add_domain(DOMAIN, "FusedExpandDepthwise", 1, fused_expand_dw::build);
}
