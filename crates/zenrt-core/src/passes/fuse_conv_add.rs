//! Residual epilogue fusion: `Add(Conv(x, w, b), z)` (either operand order), with an activation
//! that alone reads the sum, → `com.zenrt.FusedConv(x, w, b, z)` carrying that activation:
//! `act(conv(x, w) + b + z)`. The inverted-residual blocks of MobileNetV2 / EfficientNet (projection
//! 1×1 conv + Add) and ResNet's bottlenecks (1×1 conv + Add + Relu) then write their output once,
//! from the conv kernel's registers, instead of a conv pass and an Add pass.
//!
//! Conditions: the conv is a `Conv` or a `FusedConv` without activation or residual; its output
//! has no other reader and is not a graph output; `z` is not a constant, and `z`, the conv output
//! and the sum have one fully known shape (no broadcast); float32/float64. The fused node takes the
//! Add's place in the node order (where `z` is computed). Runs after `fuse_activation` (a conv
//! whose activation precedes the Add keeps it) and before `fuse_elementwise`.

use super::fuse_activation::find_activation;
use super::rewrite::{activation_attrs, fusable_dtype, is_op, make_fused, rewrite_all, Rewrite};
use super::Pass;
use crate::ops::fused::DOMAIN;
use crate::{Dim, Graph, Node, Result};

pub struct FuseConvAdd;

/// A conv that can take a residual: `Conv`, or `FusedConv` with no activation and no residual.
fn takes_residual(n: &Node) -> bool {
    if is_op(n, "Conv") {
        return n.inputs.len() <= 3;
    }
    n.domain == DOMAIN
        && n.op_type == "FusedConv"
        && n.inputs.len() <= 3
        && n.attrs.get("activation").is_none_or(|a| matches!(a, crate::Attr::String(s) if s.is_empty()))
}

impl Pass for FuseConvAdd {
    fn name(&self) -> &'static str {
        "fuse_conv_add"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        fuse_residual_add(g, takes_residual, "FusedConv")
    }
}

/// Rewrites every `Add(y, z)` (either operand order) whose `y` is the sole output of a node
/// `takes` accepts, read by nothing else, into the `fused_op` form of that node with `z` as
/// input 3 (inputs 1–2 kept, padded with empty names) and the activation that alone reads the
/// sum, if any. `z` must not be a constant and must share the fully known shape of `y` and the
/// sum; float32/float64 only. Shared by [`FuseConvAdd`] and [`super::FuseMatMulAdd`].
pub(super) fn fuse_residual_add(g: &mut Graph, takes: fn(&Node) -> bool, fused_op: &str) -> Result<usize> {
    let infos = crate::infer::infer_graph_with(g, false);
    // A value's shape when every dim is known (a number or a named symbol).
    let shape =
        |v: &str| infos.get(v).and_then(|i| i.shape.clone()).filter(|s| s.iter().all(|d| !matches!(d, Dim::Unknown)));
    rewrite_all(g, |g, idx, i| {
        let n = &g.nodes[i];
        let [y] = n.outputs.as_slice() else { return Ok(None) };
        if !takes(n) || !fusable_dtype(infos.get(y).and_then(|v| v.dtype)) {
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
        let node = make_fused(n.name.clone(), fused_op, inputs, vec![out], attrs)?;
        remove.push(i);
        Ok(Some(Rewrite::replace(j, node, remove)))
    })
}
