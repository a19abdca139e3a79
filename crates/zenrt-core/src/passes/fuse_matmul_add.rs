//! Residual epilogue fusion for matrix products: `Add(MatMul(A, B), Z)` or `Add(FusedMatMul(A, B,
//! bias), Z)` (either operand order), with an activation that alone reads the sum, →
//! `com.zenrt.FusedMatMul(A, B, bias, Z)` carrying that activation: `act(A·B + bias + Z)`. A
//! Transformer's residual connections (the attention output and FFN output projections + Add,
//! before LayerNorm) then write their output once, from the GEMM's tile epilogue, instead of a
//! GEMM pass and an Add pass.
//!
//! Conditions as for convs ([`super::FuseConvAdd`]): the product has no activation yet and no
//! residual; its output has no other reader; `Z` is not a constant (a constant is a bias, see
//! [`super::FuseMatMulBias`]), and `Z`, the product and the sum have one fully known shape;
//! float32/float64. At run time a residual the GEMM cannot take (another dtype, a batched
//! product) is added after it. Runs after `fuse_matmul_bias` and `fuse_activation`.

use super::fuse_conv_add::fuse_residual_add;
use super::rewrite::is_op;
use super::Pass;
use crate::ops::fused::DOMAIN;
use crate::{Graph, Node, Result};

pub struct FuseMatMulAdd;

/// A product that can take a residual: `MatMul`, or `FusedMatMul` without activation or residual.
fn takes_residual(n: &Node) -> bool {
    if is_op(n, "MatMul") {
        return n.inputs.len() == 2;
    }
    n.domain == DOMAIN
        && n.op_type == "FusedMatMul"
        && n.inputs.len() <= 3
        && n.attrs.get("activation").is_none_or(|a| matches!(a, crate::Attr::String(s) if s.is_empty()))
}

impl Pass for FuseMatMulAdd {
    fn name(&self) -> &'static str {
        "fuse_matmul_add"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        fuse_residual_add(g, takes_residual, "FusedMatMul")
    }
}
