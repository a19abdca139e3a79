//! Removes nodes none of whose outputs is read, and initializers nobody reads.

use super::{used_names, Pass};
use crate::{Graph, Result};

pub struct DeadCode;

impl Pass for DeadCode {
    fn name(&self) -> &'static str {
        "dead_code"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let mut removed = 0;
        loop {
            let used = used_names(g);
            let before = g.nodes.len();
            g.nodes.retain(|n| n.outputs.iter().any(|o| !o.is_empty() && used.contains(o)));
            let dropped = before - g.nodes.len();
            removed += dropped;
            if dropped == 0 {
                break;
            }
        }
        let used = used_names(g);
        let declared: std::collections::HashSet<String> = g.inputs.iter().map(|i| i.name.clone()).collect();
        let before = g.initializers.len();
        g.initializers.retain(|k, _| used.contains(k) || declared.contains(k));
        removed += before - g.initializers.len();
        Ok(removed)
    }
}
