//! Graph rewrites run before planning. Each pass is small, named and can be switched off
//! (`PassOptions::disable("constant_folding")`, CLI `--disable-pass NAME`) to compare results.

use crate::{Graph, Result};
use std::collections::HashSet;

mod constant_folding;
mod cse;
mod dead_code;
mod fold_batchnorm;
mod fold_shapes;
mod fuse_activation;
mod fuse_attention;
mod fuse_conv_add;
mod fuse_elementwise;
mod fuse_expand_dw;
mod fuse_gelu;
mod fuse_layernorm;
mod fuse_matmul_add;
mod fuse_matmul_bias;
mod identity;
pub(crate) mod rewrite;
#[cfg(test)]
mod tests;
mod transpose_reshape;

pub use constant_folding::ConstantFolding;
pub use cse::Cse;
pub use dead_code::DeadCode;
pub use fold_batchnorm::FoldBatchNorm;
pub use fold_shapes::FoldShapes;
pub use fuse_activation::FuseActivation;
pub use fuse_attention::FuseAttention;
pub use fuse_conv_add::FuseConvAdd;
pub use fuse_elementwise::FuseElementwise;
pub use fuse_expand_dw::FuseExpandDepthwise;
pub use fuse_gelu::FuseGelu;
pub use fuse_layernorm::FuseLayerNorm;
pub use fuse_matmul_add::FuseMatMulAdd;
pub use fuse_matmul_bias::FuseMatMulBias;
pub use identity::RemoveIdentity;
pub use transpose_reshape::TransposeReshape;

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

/// The default pipeline, in order: clean-ups and folding first (so patterns see constants and
/// no Identity/duplicate nodes), then the pattern recognitions (LayerNorm, GELU, attention)
/// before the epilogue fusions that consume their results, then expand+depthwise conv pairs
/// (which take the convolutions with their activations), residual Adds into the convs before them,
/// elementwise chains last.
pub fn default_passes() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(RemoveIdentity),
        Box::new(FoldShapes),
        Box::new(ConstantFolding::default()),
        Box::new(Cse),
        Box::new(TransposeReshape),
        Box::new(FoldBatchNorm),
        Box::new(FuseLayerNorm),
        Box::new(FuseGelu),
        Box::new(FuseAttention),
        Box::new(FuseMatMulBias),
        Box::new(FuseActivation),
        Box::new(FuseExpandDepthwise),
        Box::new(FuseConvAdd),
        Box::new(FuseMatMulAdd),
        Box::new(FuseElementwise),
        Box::new(DeadCode),
    ]
}

/// Names of every pass of the default pipeline.
pub fn pass_names() -> Vec<&'static str> {
    default_passes().iter().map(|p| p.name()).collect()
}

/// `Err(Error::Cycle(nodes))` when the nodes of `g` (top level, with what their subgraphs read)
/// read each other's outputs in a cycle: the planner's own order check, run before the passes.
fn check_acyclic(g: &Graph) -> Result<()> {
    let mut producer = std::collections::HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            producer.insert(o.as_str(), i);
        }
    }
    crate::plan::topological_order(g, &crate::plan::node_needs(g), &producer).map(|_| ())
}

/// Runs the enabled passes; returns (pass name, rewrites) for each pass that ran.
pub fn optimize(g: &mut Graph, opts: &PassOptions) -> Result<Vec<(&'static str, usize)>> {
    let mut report = Vec::new();
    if opts.disable_all {
        return Ok(report);
    }
    if let Some(bad) = opts.disabled.iter().find(|d| !pass_names().contains(&d.as_str())) {
        return Err(crate::Error::Invalid(format!(
            "unknown optimization pass '{bad}' (passes: {})",
            pass_names().join(", ")
        )));
    }
    // Passes assume a DAG: a cyclic model is refused here, naming its own nodes, before any rewrite
    // (a fusion could otherwise merge the cycle's nodes and the planner would name the fused one).
    check_acyclic(g)?;
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
