//! `--no-opt` / `--disable-pass NAME` (run, bench, profile, inspect): which graph optimization
//! passes run when the model is loaded.

use clap::Args;
use zenrt::PassOptions;

#[derive(Args, Clone, Debug, Default)]
pub struct PassArgs {
    /// Run no graph optimization pass (the model's graph as imported).
    #[arg(long)]
    pub no_opt: bool,
    /// Skip one optimization pass by name (repeatable or comma-separated; `zenrt inspect --passes` lists them).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub disable_pass: Vec<String>,
}

impl PassArgs {
    /// The session's pass options.
    pub fn options(&self) -> PassOptions {
        let mut o = PassOptions { disable_all: self.no_opt, ..Default::default() };
        for name in &self.disable_pass {
            o = o.disable(name.trim());
        }
        o
    }

    /// Session options with these passes.
    // Other session options may be added by other subsystems; keep the struct update.
    #[allow(clippy::needless_update)]
    pub fn session_options(&self) -> zenrt::SessionOptions {
        zenrt::SessionOptions { passes: self.options(), ..Default::default() }
    }
}

/// Prints what the passes do to `path`'s graph: rewrites per pass and the node count before/after.
pub fn print_report(path: &std::path::Path, args: &PassArgs) -> zenrt::Result<()> {
    let model = zenrt::onnx::load_model(path)?;
    let mut g = model.graph.clone();
    let report = zenrt::core::passes::optimize(&mut g, &args.options())?;
    println!("optimization passes (in order; rewrites made):");
    for name in zenrt::core::passes::pass_names() {
        match report.iter().find(|(p, _)| *p == name) {
            Some((_, n)) => println!("  {name:<18} {n}"),
            None => println!("  {name:<18} (disabled)"),
        }
    }
    let count = |g: &zenrt::Graph| {
        let mut m: std::collections::BTreeMap<String, usize> = Default::default();
        for n in &g.nodes {
            let key = if n.domain.is_empty() { n.op_type.clone() } else { format!("{}.{}", n.domain, n.op_type) };
            *m.entry(key).or_default() += 1;
        }
        m.into_iter().map(|(k, v)| format!("{k}×{v}")).collect::<Vec<_>>().join(" ")
    };
    println!("nodes before: {} ({})", model.graph.nodes.len(), count(&model.graph));
    println!("nodes after:  {} ({})", g.nodes.len(), count(&g));
    Ok(())
}
