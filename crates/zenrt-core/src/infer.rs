//! Static type and shape inference over a graph, with symbolic dimensions.
//!
//! Each operator's `infer` rule is applied in topological order; what a rule cannot tell stays
//! unknown (run time shapes are always exact). Values whose shape is declared in the model
//! (`value_info`) keep the declared information where inference knows less.

use crate::ops::InferInput;
use crate::{Dim, Graph, ValueInfo};
use std::collections::HashMap;

/// Infers dtype/shape of every value of `graph`; returns them by name (inputs, initializers,
/// node outputs).
pub fn infer_graph(graph: &Graph) -> HashMap<String, ValueInfo> {
    let mut known: HashMap<String, ValueInfo> = HashMap::new();
    for (name, t) in &graph.initializers {
        known.insert(
            name.clone(),
            ValueInfo::new(name.clone(), Some(t.dtype()), Some(t.shape().iter().map(|&d| Dim::Known(d)).collect())),
        );
    }
    for vi in &graph.inputs {
        known.entry(vi.name.clone()).or_insert_with(|| vi.clone());
    }
    // Constant values produced by Constant nodes / initializers feed rules like Reshape.
    let mut consts: HashMap<String, crate::Tensor> = HashMap::new();
    for n in &graph.nodes {
        if n.op_type == "Constant" {
            if let Ok(mut v) = n.op.run(&NoSub, &[]) {
                if let (Some(o), Some(t)) = (n.outputs.first(), v.pop()) {
                    consts.insert(o.clone(), t);
                }
            }
        }
    }
    for n in &graph.nodes {
        let infos: Vec<Option<ValueInfo>> = n.inputs.iter().map(|i| known.get(i).cloned()).collect();
        let ins: Vec<InferInput> = n
            .inputs
            .iter()
            .zip(&infos)
            .map(|(name, info)| InferInput {
                info: info.as_ref(),
                value: graph.initializers.get(name).map(|t| t.as_ref()).or_else(|| consts.get(name)),
            })
            .collect();
        let outs = n.op.infer(&ins).unwrap_or_default();
        for (k, o) in n.outputs.iter().enumerate() {
            if o.is_empty() {
                continue;
            }
            let mut vi = outs.get(k).cloned().unwrap_or_default();
            vi.name = o.clone();
            if let Some(decl) = graph.value_info.get(o).or_else(|| graph.outputs.iter().find(|x| &x.name == o)) {
                if vi.dtype.is_none() {
                    vi.dtype = decl.dtype;
                }
                if vi.shape.is_none() {
                    vi.shape = decl.shape.clone();
                }
            }
            known.insert(o.clone(), vi);
        }
    }
    known
}

struct NoSub;
impl crate::ExecCtx for NoSub {
    fn run_subgraph_values(&self, _: &std::sync::Arc<Graph>, _: Vec<crate::Value>) -> crate::Result<Vec<crate::Value>> {
        Err(crate::Error::Unsupported("subgraphs during inference".into()))
    }
}
