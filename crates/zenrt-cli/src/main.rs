//! `zenrt`: inspect ONNX models, run them on NumPy data, benchmark and profile them, run the ONNX conformance suite.

mod bench;
mod conformance;
mod inputs;
mod inspect;
mod run;
mod util;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "zenrt", version, about = "zenrt: run ONNX models", propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show a model's inputs, outputs, opsets, operators and parameters.
    Inspect {
        /// The .onnx file.
        model: PathBuf,
        /// Also print every node's statically inferred output types.
        #[arg(long)]
        shapes: bool,
        /// Print the static memory plan (peak activation memory, arena layout) of the optimized graph.
        #[arg(long)]
        plan: bool,
        /// Bind a symbolic dimension for --plan, e.g. `--dim batch=1` (repeatable).
        #[arg(long = "dim", value_name = "NAME=VALUE")]
        dims: Vec<String>,
    },
    /// Run a model on inputs from .npz/.npy files (missing inputs get random values).
    Run(run::RunArgs),
    /// Time repeated runs: latency percentiles, throughput, load time, peak memory (--json for scripts).
    Bench(bench::BenchArgs),
    /// Time every node of the optimized graph; print totals per operator type and the slowest nodes.
    Profile(bench::ProfileArgs),
    /// Run ONNX backend test cases (model.onnx + test_data_set_*) and report.
    Conformance(conformance::ConfArgs),
}

fn main() -> ExitCode {
    // A bug in zenrt must not end in a backtrace: report it in one line.
    std::panic::set_hook(Box::new(|info| {
        if util::quiet_panics() {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("zenrt: internal error (a bug in zenrt, please report it): {msg}{at}");
    }));
    let cli = Cli::parse();
    let res = std::panic::catch_unwind(move || match cli.cmd {
        Cmd::Inspect { model, shapes, plan, dims } => inspect::inspect(&model, shapes, plan.then_some(dims)),
        Cmd::Run(a) => run::run(a),
        Cmd::Bench(a) => bench::bench(a),
        Cmd::Profile(a) => bench::profile(a),
        Cmd::Conformance(a) => conformance::conformance(a),
    });
    match res {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("zenrt: error: {e}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::from(101),
    }
}
