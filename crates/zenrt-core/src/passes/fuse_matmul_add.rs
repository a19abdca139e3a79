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

use super::fuse_activation::find_activation;
use super::rewrite::{activation_attrs, fusable_dtype, is_op, make_fused, rewrite_all, Rewrite};
use super::Pass;
use crate::ops::fused::DOMAIN;
use crate::{Dim, Graph, Node, Result};

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
        let infos = crate::infer::infer_graph_with(g, false);
        // A value's shape when every dim is known (a number or a named symbol).
        let shape = |v: &str| {
            infos.get(v).and_then(|i| i.shape.clone()).filter(|s| s.iter().all(|d| !matches!(d, Dim::Unknown)))
        };
        rewrite_all(g, |g, idx, i| {
            let n = &g.nodes[i];
            let [y] = n.outputs.as_slice() else { return Ok(None) };
            if !takes_residual(n) || !fusable_dtype(infos.get(y).and_then(|v| v.dtype)) {
                return Ok(None);
            }
            let Some(j) = idx.sole_reader(y) else { return Ok(None) };
            let add = &g.nodes[j];
            if !is_op(add, "Add") || add.inputs.len() != 2 || add.outputs.len() != 1 {
                return Ok(None);
            }
            let z = if add.inputs[0] == *y { &add.inputs[1] } else { &add.inputs[0] };
            let sum = &add.outputs[0];
            let ys = shape(y);
            if z == y || idx.constant(g, z).is_some() || ys.is_none() || ys != shape(z) || ys != shape(sum) {
                return Ok(None);
            }
            let (act, mut remove, out) = match find_activation(g, idx, sum) {
                Some(found) => found,
                None => (crate::ops::fused::Activation::None, vec![], sum.clone()),
            };
            let mut inputs = n.inputs.clone();
            inputs.resize(3, String::new());
            inputs.push(z.clone());
            let mut attrs = n.attrs.clone();
            attrs.remove("activation");
            attrs.remove("activation_params");
            activation_attrs(act, &mut attrs);
            let node = make_fused(n.name.clone(), "FusedMatMul", inputs, vec![out], attrs)?;
            remove.push(i);
            Ok(Some(Rewrite::replace(j, node, remove)))
        })
    }
}
