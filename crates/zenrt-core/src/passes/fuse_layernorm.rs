//! LayerNorm recognition: the decomposition PyTorch and others export,
//! `m = ReduceMean(x, [-1]); d = Sub(x, m); v = ReduceMean(Pow(d, 2), [-1]);
//! n = Div(d, Sqrt(Add(v, eps)))`, optionally followed by `Mul(n, gamma)` and `Add(_, beta)`
//! with constant gamma/beta varying only along the last axis, becomes one ONNX
//! `LayerNormalization(x, gamma, beta, axis=-1, epsilon=eps)`. `d` must be read by exactly the
//! Pow and the Div; every other intermediate by exactly one node; reductions over the last axis
//! only, with `keepdims=1`.

use super::rewrite::{
    add_constant, attr_i64, fusable_dtype, is_op, make_node, rewrite_all, scalar_f64, Index, Rewrite,
};
use super::Pass;
use crate::{Attr, Dim, Graph, Node, Result, Tensor};

pub struct FuseLayerNorm;

/// Whether ReduceMean node `n` reduces exactly the last axis of a rank-`rank` input, keeping dims.
fn is_last_axis_mean(g: &Graph, idx: &Index, n: &Node, rank: usize) -> bool {
    if !is_op(n, "ReduceMean") || attr_i64(n, "keepdims", 1) != Some(1) {
        return false;
    }
    let axes = match (n.attrs.get("axes"), n.inputs.get(1).filter(|v| !v.is_empty())) {
        (Some(Attr::Ints(a)), None) => a.clone(),
        (None, Some(v)) => match idx.constant(g, v) {
            Some(t) => t.to_i64_vec(),
            None => return false,
        },
        _ => return false,
    };
    axes.len() == 1 && (axes[0] == -1 || axes[0] == rank as i64 - 1)
}

/// The operand of binary `n` that is not `v`, if `v` is exactly one of its two operands.
fn other<'a>(n: &'a Node, v: &str) -> Option<&'a str> {
    match n.inputs.as_slice() {
        [a, b] if a == v && b != v => Some(b),
        [a, b] if b == v && a != v => Some(a),
        _ => None,
    }
}

/// A constant that varies only along the last axis of a rank-`rank` value with `c` columns, as `[c]`.
fn last_axis_param(g: &Graph, idx: &Index, v: &str, rank: usize, c: usize) -> Option<Tensor> {
    let t = idx.constant(g, v)?;
    let ok = t.rank() <= rank
        && t.shape().last().is_none_or(|&d| d == c || d == 1)
        && t.shape().iter().rev().skip(1).all(|&d| d == 1);
    if !ok {
        return None;
    }
    let vals = t.to_f64_vec();
    let full: Vec<f64> = (0..c).map(|k| vals[if vals.len() == 1 { 0 } else { k }]).collect();
    Tensor::from_vec(vec![c], full).and_then(|x| x.cast(t.dtype())).ok()
}

struct Match {
    x: String,
    eps: f32,
    gamma: Option<Tensor>,
    beta: Option<Tensor>,
    remove: Vec<usize>,
    out: String,
}

fn match_at(
    g: &Graph,
    idx: &Index,
    infos: &std::collections::HashMap<String, crate::ValueInfo>,
    i: usize,
) -> Option<Match> {
    let div = &g.nodes[i];
    if !is_op(div, "Div") || div.inputs.len() != 2 {
        return None;
    }
    let (dv, sv) = (&div.inputs[0], &div.inputs[1]);
    let sub_i = idx.producer(dv)?;
    let sub = &g.nodes[sub_i];
    if !is_op(sub, "Sub") || sub.inputs.len() != 2 {
        return None;
    }
    let (x, mv) = (&sub.inputs[0], &sub.inputs[1]);
    let shape = infos.get(x)?.shape.clone()?;
    let rank = shape.len();
    let Some(Dim::Known(c)) = shape.last().cloned() else { return None };
    let dtype = infos.get(x)?.dtype;
    if !fusable_dtype(dtype) || rank == 0 {
        return None;
    }
    let mean_i = idx.producer(mv)?;
    if !is_last_axis_mean(g, idx, &g.nodes[mean_i], rank) || g.nodes[mean_i].inputs[0] != *x {
        return None;
    }
    idx.sole_reader(mv).filter(|&r| r == sub_i)?;
    // d is read by the Pow and the Div.
    let readers = idx.readers(dv);
    if readers.len() != 2 || idx.is_pinned(dv) || !readers.contains(&i) {
        return None;
    }
    let pow_i = *readers.iter().find(|&&r| r != i)?;
    let pow = &g.nodes[pow_i];
    let squares = (is_op(pow, "Pow")
        && pow.inputs.len() == 2
        && pow.inputs[0] == *dv
        && idx.constant(g, &pow.inputs[1]).and_then(scalar_f64) == Some(2.0))
        || (is_op(pow, "Mul") && pow.inputs.len() == 2 && pow.inputs[0] == *dv && pow.inputs[1] == *dv);
    if !squares {
        return None;
    }
    let var_i = idx.sole_reader(&pow.outputs[0])?;
    let var = &g.nodes[var_i];
    if !is_last_axis_mean(g, idx, var, rank) {
        return None;
    }
    let add_i = idx.sole_reader(&var.outputs[0])?;
    let add = &g.nodes[add_i];
    let eps = idx.constant(g, other(add, &var.outputs[0])?).and_then(scalar_f64)?;
    if !is_op(add, "Add") {
        return None;
    }
    let sqrt_i = idx.sole_reader(&add.outputs[0])?;
    let sqrt = &g.nodes[sqrt_i];
    if !is_op(sqrt, "Sqrt") || sqrt.outputs[0] != *sv || idx.sole_reader(sv) != Some(i) {
        return None;
    }
    let mut remove = vec![mean_i, sub_i, pow_i, var_i, add_i, sqrt_i, i];
    let mut out = div.outputs[0].clone();
    // Optional Mul(gamma), Add(beta).
    let mut gamma = None;
    let mut beta = None;
    if let Some(m) = idx.sole_reader(&out) {
        let mn = &g.nodes[m];
        if let Some(t) =
            is_op(mn, "Mul").then(|| other(mn, &out)).flatten().and_then(|v| last_axis_param(g, idx, v, rank, c))
        {
            gamma = Some(t);
            remove.push(m);
            out = mn.outputs[0].clone();
        }
    }
    if gamma.is_some() {
        if let Some(a) = idx.sole_reader(&out) {
            let an = &g.nodes[a];
            if let Some(t) =
                is_op(an, "Add").then(|| other(an, &out)).flatten().and_then(|v| last_axis_param(g, idx, v, rank, c))
            {
                beta = Some(t);
                remove.push(a);
                out = an.outputs[0].clone();
            }
        }
    }
    let same_dtype = |t: &Option<Tensor>| t.as_ref().is_none_or(|t| Some(t.dtype()) == dtype);
    if !same_dtype(&gamma) || !same_dtype(&beta) || infos.get(&out).and_then(|v| v.dtype) != dtype {
        return None;
    }
    Some(Match { x: x.clone(), eps: eps as f32, gamma, beta, remove, out })
}

impl Pass for FuseLayerNorm {
    fn name(&self) -> &'static str {
        "fuse_layernorm"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let infos = crate::infer::infer_graph_with(g, false);
        rewrite_all(g, |g, idx, i| {
            let Some(m) = match_at(g, idx, &infos, i) else { return Ok(None) };
            let dtype = infos.get(&m.x).and_then(|v| v.dtype).unwrap_or(crate::DType::F32);
            let c = match infos.get(&m.x).and_then(|v| v.shape.as_ref()).and_then(|s| s.last().cloned()) {
                Some(Dim::Known(c)) => c,
                _ => return Ok(None),
            };
            let name = format!("{}_layernorm", g.nodes[i].name);
            let gamma = m.gamma.unwrap_or(Tensor::full(dtype, vec![c], 1.0)?);
            let gname = add_constant(g, &format!("{name}_scale"), gamma);
            let mut inputs = vec![m.x, gname];
            if let Some(b) = m.beta {
                inputs.push(add_constant(g, &format!("{name}_bias"), b));
            }
            let mut attrs = crate::Attrs::new();
            attrs.insert("axis".into(), Attr::Int(-1));
            attrs.insert("epsilon".into(), Attr::Float(m.eps));
            let node = make_node(name, "", "LayerNormalization", 17, inputs, vec![m.out], attrs)?;
            Ok(Some(Rewrite::replace(i, node, m.remove)))
        })
    }
}
