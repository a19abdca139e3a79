//! GELU recognition: the exact form as PyTorch exports it,
//! `Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)` (also with `Mul(x, 1/√2)` instead of the Div,
//! with the 0.5 applied to `x` first, and any operand order), becomes one ONNX `Gelu` node,
//! which the activation fusion can then fold into a preceding MatMul/Gemm/Conv. Every
//! intermediate value must have no other reader; constants must be one-element and match to
//! within 1e-6 (relative).

use super::rewrite::{fusable_dtype, is_op, make_node, rewrite_all, scalar_f64, Index, Rewrite};
use super::Pass;
use crate::{Graph, Node, Result};

pub struct FuseGelu;

fn near(v: f64, want: f64) -> bool {
    (v - want).abs() <= 1e-6 * want.abs().max(1.0)
}

/// For a binary node with operands `{v, c}` where `c` is a one-element constant: `(v, c)`.
fn var_and_const<'a>(g: &Graph, idx: &Index, n: &'a Node) -> Option<(&'a str, f64, bool)> {
    let [a, b] = n.inputs.as_slice() else { return None };
    if let Some(c) = idx.constant(g, b).and_then(scalar_f64) {
        return Some((a, c, true));
    }
    idx.constant(g, a).and_then(scalar_f64).map(|c| (b.as_str(), c, false))
}

/// The other operand of binary node `n` (the one that is not `v`).
fn other<'a>(n: &'a Node, v: &str) -> Option<&'a str> {
    match n.inputs.as_slice() {
        [a, b] if a == v && b != v => Some(b),
        [a, b] if b == v && a != v => Some(a),
        _ => None,
    }
}

/// Matches the pattern around Erf node `e`: returns (x, nodes to remove, final output).
fn match_erf(g: &Graph, idx: &Index, e: usize) -> Option<(String, Vec<usize>, String)> {
    let erf = &g.nodes[e];
    if !is_op(erf, "Erf") || erf.inputs.len() != 1 {
        return None;
    }
    // x / √2 or x * (1/√2)
    let d = idx.producer(&erf.inputs[0])?;
    idx.sole_reader(&erf.inputs[0]).filter(|&r| r == e)?;
    let dn = &g.nodes[d];
    let (x, c, c_right) = var_and_const(g, idx, dn)?;
    let scaled = (is_op(dn, "Div") && c_right && near(c, std::f64::consts::SQRT_2))
        || (is_op(dn, "Mul") && near(c, std::f64::consts::FRAC_1_SQRT_2));
    if !scaled {
        return None;
    }
    // 1 + erf
    let a = idx.sole_reader(&erf.outputs[0])?;
    let an = &g.nodes[a];
    let (_, one, _) = var_and_const(g, idx, an)?;
    if !is_op(an, "Add") || !near(one, 1.0) {
        return None;
    }
    // x * (1 + erf) then * 0.5, or (x * 0.5) * (1 + erf)
    let m1 = idx.sole_reader(&an.outputs[0])?;
    let m1n = &g.nodes[m1];
    if !is_op(m1n, "Mul") {
        return None;
    }
    let lhs = other(m1n, &an.outputs[0])?;
    if lhs == x {
        let m2 = idx.sole_reader(&m1n.outputs[0])?;
        let m2n = &g.nodes[m2];
        let (_, half, _) = var_and_const(g, idx, m2n)?;
        (is_op(m2n, "Mul") && near(half, 0.5)).then(|| (x.to_string(), vec![d, e, a, m1, m2], m2n.outputs[0].clone()))
    } else {
        let h = idx.producer(lhs)?;
        let hn = &g.nodes[h];
        idx.sole_reader(lhs).filter(|&r| r == m1)?;
        let (hx, half, _) = var_and_const(g, idx, hn)?;
        (is_op(hn, "Mul") && hx == x && near(half, 0.5))
            .then(|| (x.to_string(), vec![d, e, a, h, m1], m1n.outputs[0].clone()))
    }
}

impl Pass for FuseGelu {
    fn name(&self) -> &'static str {
        "fuse_gelu"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let infos = crate::infer::infer_graph_with(g, false);
        rewrite_all(g, |g, idx, i| {
            let Some((x, remove, out)) = match_erf(g, idx, i) else { return Ok(None) };
            let dtype = infos.get(&x).and_then(|v| v.dtype);
            if !fusable_dtype(dtype) || infos.get(&out).and_then(|v| v.dtype) != dtype {
                return Ok(None);
            }
            // Intermediates must not be graph outputs (sole_reader already checked that).
            for &k in &remove {
                if g.nodes[k].outputs[0] != out && idx.is_pinned(&g.nodes[k].outputs[0]) {
                    return Ok(None);
                }
            }
            let name = format!("{}_gelu", g.nodes[i].name);
            let node = make_node(name, "", "Gelu", 20, vec![x], vec![out], Default::default())?;
            let at = remove[remove.len() - 1];
            Ok(Some(Rewrite::replace(at, node, remove)))
        })
    }
}
