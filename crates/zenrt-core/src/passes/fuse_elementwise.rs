//! Elementwise chain fusion: consecutive unary/binary elementwise operators (see
//! [`crate::ops::fused::fused_elementwise`] for the set), each read only by the next one, become
//! one `com.zenrt.FusedElementwise` node that makes a single pass over the output instead of one
//! per operator. Chains of at least two operators, f32/f64 only; a binary step whose two operands
//! are both the running value ends the chain. Runs after the other fusions, so it only takes what
//! they left (e.g. ResNet's residual `Add` + `Relu`).

use super::rewrite::{make_fused, rewrite_all, Index, Rewrite};
use super::Pass;
use crate::ops::fused::fused_elementwise::{Binary, Unary};
use crate::{Attr, DType, Graph, Node, Result, ValueInfo};
use std::collections::HashMap;

pub struct FuseElementwise;

fn is_unary(n: &Node) -> bool {
    n.domain.is_empty() && n.inputs.len() == 1 && n.attrs.is_empty() && Unary::parse(&n.op_type).is_some()
}

fn is_binary(n: &Node) -> bool {
    n.domain.is_empty() && n.inputs.len() == 2 && n.attrs.is_empty() && Binary::parse(&n.op_type).is_some()
}

fn chainable(n: &Node) -> bool {
    n.outputs.len() == 1 && (is_unary(n) || is_binary(n))
}

/// Whether node `j` may extend a chain whose running value is `v`.
fn extends(g: &Graph, idx: &Index, infos: &HashMap<String, ValueInfo>, v: &str, dtype: DType) -> Option<usize> {
    let j = idx.sole_reader(v)?;
    let n = &g.nodes[j];
    if !chainable(n) || n.inputs.iter().filter(|i| *i == v).count() != 1 {
        return None;
    }
    n.inputs.iter().all(|i| infos.get(i).and_then(|x| x.dtype) == Some(dtype)).then_some(j)
}

impl Pass for FuseElementwise {
    fn name(&self) -> &'static str {
        "fuse_elementwise"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let infos = crate::infer::infer_graph_with(g, false);
        rewrite_all(g, |g, idx, i| {
            let n = &g.nodes[i];
            if !chainable(n) {
                return Ok(None);
            }
            let dtype = match infos.get(&n.outputs[0]).and_then(|x| x.dtype) {
                Some(d @ (DType::F32 | DType::F64)) => d,
                _ => return Ok(None),
            };
            if n.inputs.iter().any(|x| infos.get(x).and_then(|v| v.dtype) != Some(dtype)) {
                return Ok(None);
            }
            // Only start at the head of a chain.
            for x in &n.inputs {
                if let Some(p) = idx.producer(x) {
                    if chainable(&g.nodes[p]) && extends(g, idx, &infos, x, dtype) == Some(i) {
                        let pd = infos.get(&g.nodes[p].outputs[0]).and_then(|v| v.dtype);
                        let p_inputs_ok =
                            g.nodes[p].inputs.iter().all(|y| infos.get(y).and_then(|v| v.dtype) == Some(dtype));
                        if pd == Some(dtype) && p_inputs_ok {
                            return Ok(None);
                        }
                    }
                }
            }
            let mut inputs: Vec<String> = vec![n.inputs[0].clone()];
            let mut ops: Vec<Vec<u8>> = vec![n.op_type.as_bytes().to_vec()];
            let mut operands = vec![];
            let mut swap = vec![];
            if is_binary(n) {
                if n.inputs[1] == n.inputs[0] {
                    return Ok(None);
                }
                inputs.push(n.inputs[1].clone());
                operands.push(1);
            } else {
                operands.push(-1);
            }
            swap.push(0);
            let mut chain = vec![i];
            let mut v = n.outputs[0].clone();
            while let Some(j) = extends(g, idx, &infos, &v, dtype) {
                let m = &g.nodes[j];
                ops.push(m.op_type.as_bytes().to_vec());
                if is_binary(m) {
                    let (other, sw) = if m.inputs[0] == v { (&m.inputs[1], 0) } else { (&m.inputs[0], 1) };
                    let k = match inputs.iter().position(|x| x == other) {
                        Some(k) => k,
                        None => {
                            inputs.push(other.clone());
                            inputs.len() - 1
                        }
                    };
                    operands.push(k as i64);
                    swap.push(sw);
                } else {
                    operands.push(-1);
                    swap.push(0);
                }
                chain.push(j);
                v = m.outputs[0].clone();
            }
            if chain.len() < 2 {
                return Ok(None);
            }
            let mut attrs = crate::Attrs::new();
            attrs.insert("ops".into(), Attr::Strings(ops));
            attrs.insert("operands".into(), Attr::Ints(operands));
            attrs.insert("swap".into(), Attr::Ints(swap));
            let name = format!("{}_chain", n.name);
            let node = make_fused(name, "FusedElementwise", inputs, vec![v], attrs)?;
            let at = chain[chain.len() - 1];
            Ok(Some(Rewrite::replace(at, node, chain)))
        })
    }
}
