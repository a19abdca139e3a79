//! Constant folding: a node whose inputs are all constants (initializers that the caller
//! cannot override, or outputs of already-folded nodes) is run once at load time and its
//! outputs become initializers. Folds shape computations of dynamic-shape exports too,
//! whenever the shape does not depend on a graph input.

use super::Pass;
use crate::{plan::node_subgraphs, ExecCtx, Graph, Result, Tensor};
use std::collections::HashSet;
use std::sync::Arc;

/// Operators never folded: their value is not a function of their inputs.
const NON_DETERMINISTIC: &[&str] =
    &["RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"];

pub struct ConstantFolding {
    /// Outputs larger than this are left to be computed at run time (folding would only
    /// trade a cheap op for a large resident constant, e.g. ConstantOfShape / Expand / Tile).
    pub max_output_bytes: usize,
}

impl Default for ConstantFolding {
    fn default() -> Self {
        ConstantFolding { max_output_bytes: 1 << 20 }
    }
}

struct NoSubgraphs;
impl ExecCtx for NoSubgraphs {
    fn run_subgraph_values(&self, _: &Arc<Graph>, _: Vec<crate::Value>) -> Result<Vec<crate::Value>> {
        Err(crate::Error::Unsupported("subgraphs in constant folding".into()))
    }
}

impl Pass for ConstantFolding {
    fn name(&self) -> &'static str {
        "constant_folding"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        // Initializers that are also declared inputs can be overridden at run time: not constant.
        let overridable: HashSet<String> = g.inputs.iter().map(|i| i.name.clone()).collect();
        let outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
        let mut folded = 0;
        let mut keep = Vec::with_capacity(g.nodes.len());
        let nodes = std::mem::take(&mut g.nodes);
        for n in nodes {
            let foldable = !NON_DETERMINISTIC.contains(&n.op_type.as_str())
                && node_subgraphs(&n).is_empty()
                && n.outputs.iter().all(|o| !o.is_empty() && !outputs.contains(o))
                && n.inputs
                    .iter()
                    .all(|i| i.is_empty() || (g.initializers.contains_key(i) && !overridable.contains(i)));
            if !foldable {
                keep.push(n);
                continue;
            }
            let args: Vec<Option<&Tensor>> = n
                .inputs
                .iter()
                .map(|i| if i.is_empty() { None } else { g.initializers.get(i).map(|t| t.as_ref()) })
                .collect();
            // An op that fails here (bad attributes, unsupported case) keeps failing at run
            // time with full context; folding just leaves it alone.
            let result = n.op.run(&NoSubgraphs, &args);
            match result {
                Ok(outs)
                    if outs.len() >= n.outputs.len() && outs.iter().all(|t| t.nbytes() <= self.max_output_bytes) =>
                {
                    for (name, t) in n.outputs.iter().zip(outs) {
                        g.initializers.insert(name.clone(), Arc::new(t));
                    }
                    folded += 1;
                }
                _ => keep.push(n),
            }
        }
        g.nodes = keep;
        Ok(folded)
    }
}
