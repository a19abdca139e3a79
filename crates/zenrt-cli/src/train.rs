//! `zenrt train CONFIG.toml [--json]`: train the model a config file describes (see
//! `zenrt_train::config`), write the ONNX model, the weights and a loss/accuracy PNG.

use crate::util::CliResult;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zenrt_train::config::{train_from_config, RunOptions};

#[derive(Args)]
pub struct TrainArgs {
    /// The training config (.toml); see docs/training.md.
    config: PathBuf,
    /// Print one JSON object (val_accuracy, val_loss, epochs, seconds, onnx, ...) as the last line.
    #[arg(long)]
    json: bool,
    /// Folder for outputs the config does not name (default: the current directory).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Override the configured number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

pub fn train(a: TrainArgs) -> CliResult<ExitCode> {
    let opts = RunOptions { verbose: !a.quiet, out_dir: a.out_dir, epochs: a.epochs };
    let r = train_from_config(&a.config, &opts)?;
    for e in &r.history.epochs {
        let vals: Vec<String> = e.values.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        eprintln!("epoch {:>3}: {}  ({:.2}s)", e.epoch, vals.join("  "), e.seconds);
    }
    eprintln!(
        "trained {} epochs in {:.1}s ({:.2} ms/step); wrote {}, {}, {}",
        r.epochs,
        r.seconds,
        r.step_ms,
        r.onnx.display(),
        r.weights.display(),
        r.plot.display()
    );
    if a.json {
        println!("{}", r.to_json());
    }
    Ok(ExitCode::SUCCESS)
}
