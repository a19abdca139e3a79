//! Removal of redundant layout operators:
//! - `Transpose(Transpose(x, p1), p2)` → `Transpose(x, p1∘p2)`, or nothing when that is the
//!   identity permutation;
//! - `Reshape(Reshape(x, s1), s2)` → `Reshape(x, s2)` when `s2` is a constant without 0 entries
//!   (a 0 would copy a dim of the inner result);
//! - `Reshape(x, s)` whose input and output shapes are statically equal → nothing.
//!
//! The inner node must have no other reader; a removed node's output must not be a graph output.

use super::rewrite::{is_op, make_node, rewire, rewrite_all, Index, Rewrite};
use super::Pass;
use crate::{Attr, Graph, Node, Result};

pub struct TransposeReshape;

fn perm(n: &Node) -> Option<Vec<i64>> {
    match n.attrs.get("perm") {
        Some(Attr::Ints(p)) => Some(p.clone()),
        _ => None,
    }
}

/// Whether `p` is a permutation of `0..p.len()`.
fn is_perm(p: &[i64]) -> bool {
    let mut seen = vec![false; p.len()];
    p.iter()
        .all(|&i| usize::try_from(i).ok().and_then(|i| seen.get_mut(i)).is_some_and(|s| !std::mem::replace(s, true)))
}

/// Deletes node `at` (and `remove`) whose output equals `src`: its readers read `src` directly.
fn bypass(g: &mut Graph, idx: &Index, at: usize, src: String, remove: Vec<usize>) -> Option<Rewrite> {
    let out = g.nodes[at].outputs.first()?.clone();
    if idx.is_pinned(&out) {
        return None;
    }
    rewire(g, &out, &src);
    Some(Rewrite { at, node: None, remove })
}

impl Pass for TransposeReshape {
    fn name(&self) -> &'static str {
        "transpose_reshape"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let infos = crate::infer::infer_graph_with(g, false);
        rewrite_all(g, |g, idx, i| {
            let n = &g.nodes[i];
            let Some(x) = n.inputs.first() else { return Ok(None) };
            let inner = idx.producer(x).filter(|&j| idx.sole_reader(x) == Some(i) && j != i);
            if is_op(n, "Transpose") {
                let Some(j) = inner.filter(|&j| is_op(&g.nodes[j], "Transpose")) else { return Ok(None) };
                let (Some(p2), Some(p1)) = (perm(n), perm(&g.nodes[j])) else { return Ok(None) };
                if p1.len() != p2.len() || !is_perm(&p1) || !is_perm(&p2) {
                    return Ok(None);
                }
                let composed: Vec<i64> = p2.iter().map(|&k| p1[k as usize]).collect();
                let src = g.nodes[j].inputs[0].clone();
                if composed.iter().enumerate().all(|(a, &b)| a as i64 == b) {
                    return Ok(bypass(g, idx, i, src, vec![j]));
                }
                let mut attrs = n.attrs.clone();
                attrs.insert("perm".into(), Attr::Ints(composed));
                let node = make_node(n.name.clone(), "", "Transpose", 13, vec![src], n.outputs.clone(), attrs)?;
                return Ok(Some(Rewrite::replace(i, node, vec![j])));
            }
            if is_op(n, "Reshape") && n.inputs.len() == 2 {
                // Reshape of a Reshape.
                if let Some(j) = inner.filter(|&j| is_op(&g.nodes[j], "Reshape")) {
                    let spec = idx.constant(g, &n.inputs[1]).map(|t| t.to_i64_vec());
                    if spec.is_some_and(|s| !s.contains(&0)) && g.nodes[j].inputs.len() == 2 {
                        let mut node = n.clone();
                        node.inputs[0] = g.nodes[j].inputs[0].clone();
                        return Ok(Some(Rewrite::replace(i, node, vec![j])));
                    }
                }
                // Reshape to the same shape.
                let same = |a: &str, b: &str| {
                    let (Some(a), Some(b)) = (infos.get(a), infos.get(b)) else { return false };
                    a.concrete_shape().is_some() && a.concrete_shape() == b.concrete_shape()
                };
                if same(x, &n.outputs[0]) {
                    return Ok(bypass(g, idx, i, x.clone(), vec![]));
                }
            }
            Ok(None)
        })
    }
}
