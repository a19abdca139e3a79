//! Graph rewrites run before planning. Each pass is small, named and can be switched off
//! (`PassOptions::disable("constant_folding")`, CLI `--disable-pass NAME`) to compare results.

use crate::{Graph, Result};
use std::collections::HashSet;

mod constant_folding;
mod dead_code;
mod identity;

pub use constant_folding::ConstantFolding;
pub use dead_code::DeadCode;
pub use identity::RemoveIdentity;

/// A graph rewrite.
pub trait Pass {
    /// Stable name, used to switch the pass off.
    fn name(&self) -> &'static str;
    /// Rewrites `g` in place; returns how many rewrites it made.
    fn run(&self, g: &mut Graph) -> Result<usize>;
}

/// Which passes run.
#[derive(Clone, Debug, Default)]
pub struct PassOptions {
    /// Turn every pass off.
    pub disable_all: bool,
    /// Names of passes to skip.
    pub disabled: HashSet<String>,
}

impl PassOptions {
    pub fn disable(mut self, name: &str) -> Self {
        self.disabled.insert(name.to_string());
        self
    }
}

/// The default pipeline, in order.
pub fn default_passes() -> Vec<Box<dyn Pass>> {
    vec![Box::new(RemoveIdentity), Box::new(ConstantFolding::default()), Box::new(DeadCode)]
}

/// Names of every pass of the default pipeline.
pub fn pass_names() -> Vec<&'static str> {
    default_passes().iter().map(|p| p.name()).collect()
}

/// Runs the enabled passes; returns (pass name, rewrites) for each pass that ran.
pub fn optimize(g: &mut Graph, opts: &PassOptions) -> Result<Vec<(&'static str, usize)>> {
    let mut report = Vec::new();
    if opts.disable_all {
        return Ok(report);
    }
    for p in default_passes() {
        if opts.disabled.contains(p.name()) {
            continue;
        }
        let n = p.run(g)?;
        report.push((p.name(), n));
    }
    Ok(report)
}

/// Names read anywhere in `g` (node inputs, subgraph outer reads) or exported as outputs.
pub(crate) fn used_names(g: &Graph) -> HashSet<String> {
    let mut used: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    for n in &g.nodes {
        used.extend(n.inputs.iter().filter(|i| !i.is_empty()).cloned());
        for sg in crate::plan::node_subgraphs(n) {
            used.extend(sg.free_values());
        }
    }
    used
}
