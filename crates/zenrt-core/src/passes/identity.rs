//! Removes Identity nodes (and inference-mode Dropout with no mask output) by rewiring
//! their readers to the node's input.

use super::Pass;
use crate::{Graph, Result};
use std::collections::{HashMap, HashSet};

pub struct RemoveIdentity;

impl Pass for RemoveIdentity {
    fn name(&self) -> &'static str {
        "remove_identity"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
        // Values read by subgraphs by name cannot be renamed safely.
        let mut sub_reads = HashSet::new();
        for n in &g.nodes {
            for sg in crate::plan::node_subgraphs(n) {
                sub_reads.extend(sg.free_values());
            }
        }
        let mut alias: HashMap<String, String> = HashMap::new();
        let mut removed = 0;
        g.nodes.retain(|n| {
            let is_identity = n.op_type == "Identity" && n.domain.is_empty()
                || n.op_type == "Dropout"
                    && n.domain.is_empty()
                    && n.outputs.iter().skip(1).all(|o| o.is_empty())
                    && n.inputs.len() == 1;
            let (Some(i), Some(o)) = (n.inputs.first(), n.outputs.first()) else { return true };
            if is_identity && !i.is_empty() && !outputs.contains(o) && !sub_reads.contains(o) {
                alias.insert(o.clone(), i.clone());
                removed += 1;
                false
            } else {
                true
            }
        });
        let resolve = |mut v: String| {
            let mut hops = 0;
            while let Some(a) = alias.get(&v) {
                v = a.clone();
                hops += 1;
                if hops > alias.len() {
                    break;
                }
            }
            v
        };
        for n in &mut g.nodes {
            for i in n.inputs.iter_mut() {
                if alias.contains_key(i) {
                    *i = resolve(i.clone());
                }
            }
        }
        Ok(removed)
    }
}
