//! Expand + depthwise fusion: a 1×1 convolution (`Conv`/`FusedConv`: group 1, stride 1, no
//! padding, dilation 1, weight `[E, C, 1, 1]`) whose output is read only by a depthwise
//! convolution (group `E`, weight `[E, 1, k, k]`, square `k` of 3, 5 or 7, equal strides 1 or 2,
//! dilation 1, explicit pads) becomes one `com.zenrt.FusedExpandDepthwise`, which computes the
//! depthwise output in bands of rows without writing the expanded tensor
//! (MobileNetV2/EfficientNet inverted-residual blocks). Runs after `fuse_activation`, so both
//! convolutions carry their activations (`activation` → `expand_activation` for the 1×1).
//!
//! Left alone: depthwise outputs too narrow for the fusion to pay (`expand_dw::fusion_pays`:
//! there the plain depthwise conv runs the faster channel-blocked kernel), other dtypes than f32, inputs not of rank 4, non-constant weights, `auto_pad`
//! other than NOTSET, an expanded tensor with another reader or that is a graph output, and
//! geometries the fused kernel does not take (it would fall back to two convolutions anyway).

use super::rewrite::{attr_i64, make_fused, rewrite_all, Index, Rewrite};
use super::Pass;
use crate::{Attr, Attrs, DType, Graph, Node, Result};

pub struct FuseExpandDepthwise;

/// `Conv` or (any activation) `com.zenrt.FusedConv`.
fn is_conv(n: &Node) -> bool {
    match n.domain.as_str() {
        "" | "ai.onnx" => n.op_type == "Conv",
        crate::ops::fused::DOMAIN => n.op_type == "FusedConv",
        _ => false,
    }
}

/// An ints attribute, `None` when absent or not ints.
fn ints<'a>(n: &'a Node, name: &str) -> Option<&'a [i64]> {
    match n.attrs.get(name) {
        Some(Attr::Ints(v)) => Some(v),
        _ => None,
    }
}

/// Whether `name` is absent or all of its values equal `v` (and there are `len` of them).
fn all_eq(n: &Node, name: &str, v: i64, len: usize) -> bool {
    match n.attrs.get(name) {
        None => true,
        Some(Attr::Ints(xs)) => xs.len() == len && xs.iter().all(|&x| x == v),
        _ => false,
    }
}

/// `auto_pad` absent or NOTSET.
fn explicit_pads(n: &Node) -> bool {
    match n.attrs.get("auto_pad") {
        None => true,
        Some(Attr::String(s)) => s == b"NOTSET",
        _ => false,
    }
}

/// The constant 4-D weight of conv `n` (input 1).
fn weight_shape(g: &Graph, idx: &Index, n: &Node) -> Option<Vec<usize>> {
    let w = idx.constant(g, n.inputs.get(1)?)?;
    (w.dtype() == DType::F32 && w.shape().len() == 4).then(|| w.shape().to_vec())
}

/// The fused node replacing depthwise conv `d` fed by 1×1 conv `p`, if the pattern holds and
/// the input width `w` (when known) gives an output wide enough for the fusion to pay.
fn fuse(g: &Graph, idx: &Index, p: &Node, d: &Node, w: Option<usize>) -> Option<Attrs> {
    let (ws_e, ws_d) = (weight_shape(g, idx, p)?, weight_shape(g, idx, d)?);
    let (e, k) = (ws_d[0], ws_d[2]);
    let pointwise = ws_e[2..] == [1, 1]
        && ws_e[0] == e
        && attr_i64(p, "group", 1) == Some(1)
        && all_eq(p, "strides", 1, 2)
        && all_eq(p, "dilations", 1, 2)
        && all_eq(p, "pads", 0, 4)
        && all_eq(p, "kernel_shape", 1, 2)
        && explicit_pads(p);
    let strides = ints(d, "strides").unwrap_or(&[1, 1]);
    let depthwise = ws_d[1] == 1
        && ws_d[3] == k
        && matches!(k, 3 | 5 | 7)
        && attr_i64(d, "group", 1) == Some(e as i64)
        && strides.len() == 2
        && strides[0] == strides[1]
        && matches!(strides[0], 1 | 2)
        && all_eq(d, "dilations", 1, 2)
        && ints(d, "kernel_shape").is_none_or(|ks| ks == [k as i64, k as i64])
        && ints(d, "pads").is_none_or(|ps| ps.len() == 4 && ps.iter().all(|&v| (0..k as i64).contains(&v)))
        && explicit_pads(d);
    if !(pointwise && depthwise) {
        return None;
    }
    if let Some(w) = w {
        let pads = ints(d, "pads").map_or(0, |ps| ps[1] + ps[3]) as usize;
        let ow = (w + pads).checked_sub(k)? / strides[0] as usize + 1;
        if !crate::ops::nn::conv_kernels::expand_dw::fusion_pays(ow) {
            return None;
        }
    }
    let mut attrs = d.attrs.clone();
    for (from, to) in [("activation", "expand_activation"), ("activation_params", "expand_activation_params")] {
        if let Some(a) = p.attrs.get(from) {
            attrs.insert(to.into(), a.clone());
        }
    }
    Some(attrs)
}

impl Pass for FuseExpandDepthwise {
    fn name(&self) -> &'static str {
        "fuse_expand_depthwise"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let infos = crate::infer::infer_graph_with(g, false);
        rewrite_all(g, |g, idx, i| {
            let d = &g.nodes[i];
            let Some(t) = d.inputs.first().filter(|_| is_conv(d) && d.outputs.len() == 1) else { return Ok(None) };
            let Some(pi) = idx.producer(t).filter(|_| idx.sole_reader(t) == Some(i)) else { return Ok(None) };
            let p = &g.nodes[pi];
            let x = p.inputs.first().map(String::as_str).unwrap_or("");
            let x_info = infos.get(x);
            let shape = x_info.and_then(|v| v.shape.as_ref());
            let rank4 = shape.is_some_and(|s| s.len() == 4);
            let width = shape.and_then(|s| s.get(3)).and_then(|d| match d {
                crate::Dim::Known(n) => Some(*n),
                _ => None,
            });
            if !is_conv(p) || p.outputs.len() != 1 || !rank4 || x_info.and_then(|v| v.dtype) != Some(DType::F32) {
                return Ok(None);
            }
            let Some(attrs) = fuse(g, idx, p, d, width) else { return Ok(None) };
            let arg = |n: &Node, k: usize| n.inputs.get(k).cloned().unwrap_or_default();
            let inputs = vec![arg(p, 0), arg(p, 1), arg(p, 2), arg(d, 1), arg(d, 2)];
            let node = make_fused(d.name.clone(), "FusedExpandDepthwise", inputs, d.outputs.clone(), attrs)?;
            Ok(Some(Rewrite::replace(i, node, vec![pi])))
        })
    }
}
