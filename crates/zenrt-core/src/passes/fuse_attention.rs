//! Scaled dot-product attention recognition:
//! `MatMul(Softmax(MatMul(Q, Kt) [* c | / c] [+ mask], axis=-1), V)` →
//! `com.zenrt.FusedAttention(Q, Kt, V[, mask], scale)`.
//!
//! Conditions: `c` a one-element constant; Softmax with an explicit last-axis `axis`; every
//! intermediate value read only by the next node of the pattern and not a graph output; the
//! mask statically known not to enlarge the scores (each of its dims is 1 or equal to the
//! scores' dim, symbolically); float dtypes, all the same.

use super::rewrite::{attr_i64, fusable_dtype, is_op, make_fused, rewrite_all, scalar_f64, Index, Rewrite};
use super::Pass;
use crate::{Attr, Dim, Graph, Result, ValueInfo};
use std::collections::HashMap;

pub struct FuseAttention;

/// Whether a value of shape `m` broadcasts into `s` without enlarging it.
fn fits(m: &[Dim], s: &[Dim]) -> bool {
    m.len() <= s.len()
        && m.iter().zip(&s[s.len() - m.len()..]).all(|(a, b)| *a == Dim::Known(1) || (a == b && *a != Dim::Unknown))
}

struct Match {
    q: String,
    kt: String,
    v: String,
    mask: Option<String>,
    scale: f64,
    remove: Vec<usize>,
    out: String,
}

fn match_at(g: &Graph, idx: &Index, infos: &HashMap<String, ValueInfo>, i: usize) -> Option<Match> {
    let sm = &g.nodes[i];
    if !is_op(sm, "Softmax") || sm.inputs.len() != 1 || sm.outputs.len() != 1 {
        return None;
    }
    let scores = infos.get(&sm.inputs[0])?;
    let rank = scores.shape.as_ref()?.len() as i64;
    let axis = attr_i64(sm, "axis", i64::MIN)?;
    if !(axis == -1 || axis == rank - 1) || rank < 2 {
        return None;
    }
    let dtype = scores.dtype;
    if !fusable_dtype(dtype) {
        return None;
    }
    let mut remove = vec![i];
    // Backwards: [Add mask] ← [Mul/Div scale] ← MatMul(Q, Kt).
    let mut cur = sm.inputs[0].clone();
    let step = |cur: &str, remove: &mut Vec<usize>| -> Option<usize> {
        let p = idx.producer(cur)?;
        idx.sole_reader(cur).filter(|r| remove.contains(r))?;
        remove.push(p);
        Some(p)
    };
    let mut p = step(&cur, &mut remove)?;
    let mut mask = None;
    if is_op(&g.nodes[p], "Add") {
        let n = &g.nodes[p];
        let [a, b] = n.inputs.as_slice() else { return None };
        // The scores side is the one produced by Mul/Div/MatMul.
        let from_scores =
            |v: &str| idx.producer(v).is_some_and(|k| ["Mul", "Div", "MatMul"].iter().any(|op| is_op(&g.nodes[k], op)));
        let (s, m) = if from_scores(a) && idx.sole_reader(a) == Some(p) { (a, b) } else { (b, a) };
        // Compare with the scores before the Add (the Add's own output is already broadcast).
        let (ms, ss) = (infos.get(m)?.shape.as_ref()?, infos.get(s)?.shape.as_ref()?);
        if !fits(ms, ss) || infos.get(m)?.dtype != dtype || s == m {
            return None;
        }
        mask = Some(m.clone());
        cur = s.clone();
        p = step(&cur, &mut remove)?;
    }
    let mut scale = 1.0;
    let pn = &g.nodes[p];
    if is_op(pn, "Mul") || is_op(pn, "Div") {
        let [a, b] = pn.inputs.as_slice() else { return None };
        let (s, c) = match (idx.constant(g, a).and_then(scalar_f64), idx.constant(g, b).and_then(scalar_f64)) {
            (None, Some(c)) => (a, c),
            (Some(c), None) if is_op(pn, "Mul") => (b, c),
            _ => return None,
        };
        scale = if is_op(pn, "Div") { 1.0 / c } else { c };
        cur = s.clone();
        p = step(&cur, &mut remove)?;
    }
    let mm = &g.nodes[p];
    if !is_op(mm, "MatMul") || mm.inputs.len() != 2 || !scale.is_finite() {
        return None;
    }
    let (q, kt) = (mm.inputs[0].clone(), mm.inputs[1].clone());
    // Forward: MatMul(P, V).
    let pv = idx.sole_reader(&sm.outputs[0])?;
    let pvn = &g.nodes[pv];
    if !is_op(pvn, "MatMul")
        || pvn.inputs.len() != 2
        || pvn.inputs[0] != sm.outputs[0]
        || pvn.inputs[1] == sm.outputs[0]
    {
        return None;
    }
    let v = pvn.inputs[1].clone();
    for name in [&q, &kt, &v] {
        if infos.get(name.as_str()).and_then(|x| x.dtype) != dtype {
            return None;
        }
    }
    remove.push(pv);
    Some(Match { q, kt, v, mask, scale, remove, out: pvn.outputs[0].clone() })
}

impl Pass for FuseAttention {
    fn name(&self) -> &'static str {
        "fuse_attention"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let infos = crate::infer::infer_graph_with(g, false);
        rewrite_all(g, |g, idx, i| {
            let Some(m) = match_at(g, idx, &infos, i) else { return Ok(None) };
            let mut inputs = vec![m.q, m.kt, m.v];
            inputs.extend(m.mask);
            let mut attrs = crate::Attrs::new();
            attrs.insert("scale".into(), Attr::Float(m.scale as f32));
            let name = format!("{}_attention", g.nodes[i].name);
            let node = make_fused(name, "FusedAttention", inputs, vec![m.out], attrs)?;
            let at = *m.remove.last().unwrap_or(&i);
            Ok(Some(Rewrite::replace(at, node, m.remove)))
        })
    }
}
