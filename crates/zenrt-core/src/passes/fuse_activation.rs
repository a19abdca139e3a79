//! Activation epilogue fusion: `act(Conv(..))` → `com.zenrt.FusedConv`, `act(Gemm(..))` →
//! `com.zenrt.FusedGemm`, `act(MatMul(..))` / `act(FusedMatMul(..))` → `com.zenrt.FusedMatMul`.
//!
//! Activations: Relu, LeakyRelu, Clip (constant bounds), Sigmoid, HardSigmoid, HardSwish, Tanh,
//! Gelu (exact and tanh), and SiLU written as `Mul(y, Sigmoid(y))` (EfficientNet's export): `y`
//! must then be read by exactly that Sigmoid and that Mul. The producer's output must have no
//! other reader and must not be a graph output.

use super::rewrite::{activation_attrs, attr_f32, fusable_dtype, is_op, make_fused, rewrite_all, Index, Rewrite};
use super::Pass;
use crate::ops::fused::Activation;
use crate::{Attr, Graph, Node, Result};

pub struct FuseActivation;

/// The activation node `n` applies to its first input, if it is one the epilogue supports.
fn activation_of(g: &Graph, idx: &Index, n: &Node) -> Option<Activation> {
    if !n.domain.is_empty() || n.outputs.len() != 1 {
        return None;
    }
    let scalar = |k: usize| -> Option<Option<f32>> {
        match n.inputs.get(k).filter(|v| !v.is_empty()) {
            None => Some(None),
            Some(v) => {
                let t = idx.constant(g, v)?;
                (t.len() == 1 && t.dtype().is_float()).then(|| Some(t.to_f64_vec()[0] as f32))
            }
        }
    };
    Some(match n.op_type.as_str() {
        "Relu" => Activation::Relu,
        "LeakyRelu" => Activation::LeakyRelu(attr_f32(n, "alpha", 0.01)?),
        "Sigmoid" => Activation::Sigmoid,
        "HardSigmoid" => Activation::HardSigmoid(attr_f32(n, "alpha", 0.2)?, attr_f32(n, "beta", 0.5)?),
        "HardSwish" => Activation::HardSwish,
        "Tanh" => Activation::Tanh,
        "Gelu" => match n.attrs.get("approximate") {
            None => Activation::Gelu,
            Some(Attr::String(s)) if s == b"none" => Activation::Gelu,
            Some(Attr::String(s)) if s == b"tanh" => Activation::GeluTanh,
            _ => return None,
        },
        "Clip" => {
            let (lo, hi) = if n.inputs.len() > 1 {
                (scalar(1)?, scalar(2)?)
            } else {
                (attr_f32(n, "min", f32::NEG_INFINITY).map(Some)?, attr_f32(n, "max", f32::INFINITY).map(Some)?)
            };
            Activation::Clip(lo.unwrap_or(f32::NEG_INFINITY), hi.unwrap_or(f32::INFINITY))
        }
        _ => return None,
    })
}

/// The activation applied to `y` by its readers, with the nodes to remove and the final output.
pub(crate) fn find_activation(g: &Graph, idx: &Index, y: &str) -> Option<(Activation, Vec<usize>, String)> {
    if idx.is_pinned(y) {
        return None;
    }
    match idx.readers(y) {
        [r] => {
            let n = &g.nodes[*r];
            (!n.inputs.is_empty() && n.inputs[0] == y && n.inputs.iter().skip(1).all(|v| v != y)).then_some(())?;
            Some((activation_of(g, idx, n)?, vec![*r], n.outputs[0].clone()))
        }
        [a, b] => {
            // SiLU: Mul(y, Sigmoid(y)) in either operand order.
            let (s, m) = if is_op(&g.nodes[*a], "Sigmoid") { (*a, *b) } else { (*b, *a) };
            let (sn, mn) = (&g.nodes[s], &g.nodes[m]);
            if !is_op(sn, "Sigmoid") || !is_op(mn, "Mul") || sn.inputs.len() != 1 || mn.inputs.len() != 2 {
                return None;
            }
            let sig = sn.outputs.first()?;
            let operands_ok =
                (mn.inputs[0] == y && &mn.inputs[1] == sig) || (&mn.inputs[0] == sig && mn.inputs[1] == y);
            (operands_ok && idx.sole_reader(sig) == Some(m))
                .then(|| (Activation::Silu, vec![s, m], mn.outputs[0].clone()))
        }
        _ => None,
    }
}

impl Pass for FuseActivation {
    fn name(&self) -> &'static str {
        "fuse_activation"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let infos = crate::infer::infer_graph_with(g, false);
        rewrite_all(g, |g, idx, i| {
            let n = &g.nodes[i];
            let fused_type = match (n.domain.as_str(), n.op_type.as_str()) {
                ("", "Conv") => "FusedConv",
                ("", "Gemm") => "FusedGemm",
                ("", "MatMul") => "FusedMatMul",
                (crate::ops::fused::DOMAIN, "FusedMatMul") if !n.attrs.contains_key("activation") => "FusedMatMul",
                _ => return Ok(None),
            };
            let [y] = n.outputs.as_slice() else { return Ok(None) };
            // Conv, Gemm and MatMul take and give one type T: where inference lost the output's type
            // (a data-dependent region upstream, as in detection models), any input's type tells it.
            let dtype = std::iter::once(y).chain(&n.inputs).find_map(|v| infos.get(v).and_then(|v| v.dtype));
            if !fusable_dtype(dtype) {
                return Ok(None);
            }
            let Some((act, remove, out)) = find_activation(g, idx, y) else { return Ok(None) };
            let mut attrs = n.attrs.clone();
            activation_attrs(act, &mut attrs);
            let node = make_fused(n.name.clone(), fused_type, n.inputs.clone(), vec![out], attrs)?;
            Ok(Some(Rewrite::replace(i, node, remove)))
        })
    }
}
