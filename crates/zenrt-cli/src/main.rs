//! `zenrt`: inspect ONNX models, run them on NumPy data, benchmark and profile them, run the ONNX conformance suite.

mod bench;
mod conformance;
mod flops;
mod inputs;
mod inspect;
mod passes;
mod run;
mod train;
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
        /// Also count the model's FLOPs (2 x multiply-adds of Conv/ConvTranspose/MatMul/Gemm/RNNs).
        #[arg(long)]
        flops: bool,
        /// Bind a symbolic input dim for --flops and --plan, e.g. `--dim batch=8 --dim seq=32` (repeatable).
        #[arg(long = "dim", value_name = "NAME=VALUE")]
        dims: Vec<String>,
        /// Also print what the optimization passes do: rewrites per pass, nodes before/after.
        #[arg(long)]
        passes: bool,
        #[command(flatten)]
        pass_args: passes::PassArgs,
        /// Also list where each node would run on this device (cuda:N: nodes without a CUDA kernel).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Print the static memory plan (peak activation memory, arena layout) of the optimized graph.
        #[arg(long)]
        plan: bool,
    },
    /// Run a model on inputs from .npz/.npy files (missing inputs get random values).
    Run(run::RunArgs),
    /// Time repeated runs: latency percentiles, throughput, load time, peak memory (--json for scripts).
    Bench(bench::BenchArgs),
    /// Time every node of the optimized graph; print totals per operator type and the slowest nodes.
    Profile(bench::ProfileArgs),
    /// Run ONNX backend test cases (model.onnx + test_data_set_*) and report.
    Conformance(conformance::ConfArgs),
    /// Train a model described by a TOML config; write ONNX, safetensors and a loss curve PNG.
    Train(train::TrainArgs),
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
        Cmd::Inspect { model, shapes, flops, dims, passes: show, pass_args, device, plan } => {
            inspect::inspect(&model, shapes, &device, plan.then(|| dims.clone())).and_then(|code| {
                if show {
                    passes::print_report(&model, &pass_args)?;
                }
                if flops {
                    flops::report(&model, &dims)
                } else {
                    Ok(code)
                }
            })
        }
        Cmd::Run(a) => run::run(a),
        Cmd::Bench(a) => bench::bench(a),
        Cmd::Profile(a) => bench::profile(a),
        Cmd::Conformance(a) => conformance::conformance(a),
        Cmd::Train(a) => train::train(a),
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
