//! Common-subexpression elimination: two nodes with the same operator, attributes and inputs
//! compute the same values, so the second one's readers read the first one's outputs instead.
//! Small constants with equal contents are merged first, so that e.g. two `Unsqueeze(x, axes)`
//! with separately stored but equal `axes` are recognized too. Nodes with subgraphs,
//! non-deterministic operators and nodes whose outputs are graph outputs (or read by a
//! subgraph) are kept.

use super::rewrite::Index;
use super::Pass;
use crate::{Attr, Graph, Node, Result};
use std::collections::HashMap;
use std::fmt::Write;

/// Constants up to this many elements are compared for merging.
const MAX_MERGED_CONST: usize = 4096;

const NON_DETERMINISTIC: &[&str] =
    &["RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"];

pub struct Cse;

/// A canonical text of an attribute, or `None` when it cannot be compared (subgraphs).
fn attr_key(a: &Attr, out: &mut String) -> Option<()> {
    match a {
        Attr::Float(v) => write!(out, "f{}", v.to_bits()).ok(),
        Attr::Int(v) => write!(out, "i{v}").ok(),
        Attr::String(s) => write!(out, "s{s:?}").ok(),
        Attr::Floats(v) => write!(out, "F{:?}", v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()).ok(),
        Attr::Ints(v) => write!(out, "I{v:?}").ok(),
        Attr::Strings(v) => write!(out, "S{v:?}").ok(),
        Attr::Type(t) => write!(out, "T{t:?}").ok(),
        Attr::Tensor(t) if t.len() <= MAX_MERGED_CONST => {
            let bits: Vec<u64> = if t.dtype().is_float() {
                t.to_f64_vec().iter().map(|x| x.to_bits()).collect()
            } else {
                t.to_i64_vec().iter().map(|&x| x as u64).collect()
            };
            write!(out, "t{:?}{:?}{bits:?}", t.dtype(), t.shape()).ok()
        }
        _ => None,
    }
}

/// The key under which two nodes compute the same thing.
fn node_key(n: &Node) -> Option<String> {
    if NON_DETERMINISTIC.contains(&n.op_type.as_str())
        || n.inputs.is_empty()
        || !crate::plan::node_subgraphs(n).is_empty()
    {
        return None;
    }
    let mut key = format!("{}|{}|{}|{}|", n.domain, n.op_type, n.outputs.len(), n.inputs.join("\u{0}"));
    let mut names: Vec<&String> = n.attrs.keys().collect();
    names.sort();
    for name in names {
        key.push_str(name);
        key.push('=');
        attr_key(&n.attrs[name], &mut key)?;
        key.push(';');
    }
    Some(key)
}

/// Merges equal small constants; returns how many were merged.
fn merge_constants(g: &mut Graph, idx: &Index) -> usize {
    let mut names: Vec<String> = g
        .initializers
        .iter()
        .filter(|(k, t)| t.len() <= MAX_MERGED_CONST && idx.constant_ok(k))
        .map(|(k, _)| k.clone())
        .collect();
    names.sort();
    let mut first: Vec<String> = Vec::new();
    let mut alias: HashMap<String, String> = HashMap::new();
    for name in names {
        let t = &g.initializers[&name];
        match first.iter().find(|f| *g.initializers[*f] == **t && g.initializers[*f].dtype() == t.dtype()) {
            Some(f) => {
                alias.insert(name, f.clone());
            }
            None => first.push(name),
        }
    }
    rename_inputs(g, &alias);
    alias.len()
}

/// Replaces node inputs according to `alias`.
fn rename_inputs(g: &mut Graph, alias: &HashMap<String, String>) {
    for n in &mut g.nodes {
        for i in n.inputs.iter_mut() {
            if let Some(a) = alias.get(i) {
                *i = a.clone();
            }
        }
    }
}

impl Pass for Cse {
    fn name(&self) -> &'static str {
        "cse"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let idx = Index::new(g);
        let mut count = merge_constants(g, &idx);
        loop {
            let idx = Index::new(g);
            let mut seen: HashMap<String, usize> = HashMap::new();
            let mut alias: HashMap<String, String> = HashMap::new();
            let mut dropped = vec![false; g.nodes.len()];
            for (i, n) in g.nodes.iter().enumerate() {
                let Some(key) = node_key(n) else { continue };
                match seen.get(&key) {
                    Some(&j) if n.outputs.iter().all(|o| !idx.is_pinned(o)) => {
                        for (o, keep) in n.outputs.iter().zip(&g.nodes[j].outputs) {
                            if !o.is_empty() && !keep.is_empty() {
                                alias.insert(o.clone(), keep.clone());
                            } else if !o.is_empty() {
                                // The kept node does not produce this optional output: keep both.
                                alias.retain(|k, _| !n.outputs.contains(k));
                                break;
                            }
                        }
                        dropped[i] = n.outputs.iter().all(|o| o.is_empty() || alias.contains_key(o));
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(key, i);
                    }
                }
            }
            let removed = dropped.iter().filter(|d| **d).count();
            if removed == 0 {
                break;
            }
            let mut k = 0;
            g.nodes.retain(|_| {
                k += 1;
                !dropped[k - 1]
            });
            rename_inputs(g, &alias);
            count += removed;
        }
        Ok(count)
    }
}
