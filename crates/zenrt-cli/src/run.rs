//! `zenrt run MODEL ...`: feed inputs from .npz/.npy files (or random ones), print/save outputs,
//! optionally compare them with expected outputs.

use crate::inputs::{make_inputs, InputArgs};
use crate::util::{summary, CliError, CliResult};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zenrt::{DType, Tensor};

#[derive(Args)]
pub struct RunArgs {
    /// The .onnx file.
    pub model: PathBuf,
    #[command(flatten)]
    pub passes: crate::passes::PassArgs,
    #[command(flatten)]
    pub io: InputArgs,
    /// Save the outputs to an .npz keyed by output name.
    #[arg(long, value_name = "OUT.npz")]
    pub output: Option<PathBuf>,
    /// Compare every output in this .npz with what the model produced; exit 1 on mismatch.
    #[arg(long, value_name = "EXPECTED.npz")]
    pub assert_outputs: Option<PathBuf>,
    /// Relative tolerance for --assert-outputs.
    #[arg(long, default_value_t = 1e-4)]
    pub rtol: f64,
    /// Absolute tolerance for --assert-outputs.
    #[arg(long, default_value_t = 1e-5)]
    pub atol: f64,
    /// Threads for parallel kernels (default: every available core).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(a: RunArgs) -> CliResult<ExitCode> {
    let t0 = std::time::Instant::now();
    let session = crate::bench::open_session(&a.model, a.threads, &a.passes, &a.io)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;

    let given = make_inputs(&session, &a.io, None, true)?;
    let t1 = std::time::Instant::now();
    let outs = session.run(given)?;
    let run_ms = t1.elapsed().as_secs_f64() * 1e3;
    for (name, v) in outs.iter() {
        match v {
            zenrt::Value::Tensor(t) => println!("output {name}: {}", summary(t)),
            zenrt::Value::Sequence(s) => {
                println!("output {name}: sequence of {} tensor(s)", s.len());
                for (i, t) in s.iter().enumerate() {
                    println!("  [{i}] {}", summary(t));
                }
            }
            zenrt::Value::Optional(None) => println!("output {name}: empty optional"),
            zenrt::Value::Optional(Some(_)) => println!("output {name}: optional (present)"),
            zenrt::Value::Strings(s) => {
                let head: Vec<&str> = s.data.iter().take(8).map(String::as_str).collect();
                let more = if s.data.len() > 8 { ", ..." } else { "" };
                println!("output {name}: strings {:?} [{}{more}]", s.shape, head.join(", "));
            }
            zenrt::Value::Maps(m) => {
                println!("output {name}: sequence of {} map(s)", m.len());
                let vals = m.values.to_f64_vec();
                for (i, row) in vals.chunks(m.keys.len().max(1)).take(4).enumerate() {
                    let kv: Vec<String> =
                        row.iter().enumerate().map(|(j, v)| format!("{}: {v:.6}", m.keys.display(j))).collect();
                    println!("  [{i}] {{{}}}", kv.join(", "));
                }
            }
        }
    }
    println!("loaded in {load_ms:.1} ms, ran in {run_ms:.1} ms");

    if let Some(p) = &a.output {
        // NumPy has no bfloat16: save those outputs as float32.
        let conv: Vec<(String, Tensor)> = outs
            .iter()
            .filter_map(|(n, v)| v.as_tensor().ok().map(|t| (n, t)))
            .map(|(n, t)| Ok((n.to_string(), if t.dtype() == DType::BF16 { t.cast(DType::F32)? } else { t.clone() })))
            .collect::<zenrt::Result<_>>()?;
        let entries: Vec<(&str, &Tensor)> = conv.iter().map(|(n, t)| (n.as_str(), t)).collect();
        zenrt::npy::write_npz(p, &entries)?;
        println!("wrote {} output(s) to {}", entries.len(), p.display());
    }

    if let Some(p) = &a.assert_outputs {
        let expected = zenrt::npy::read_npz(p)?;
        if expected.is_empty() {
            return Err(CliError::Msg(format!("{}: holds no arrays to compare", p.display())));
        }
        let mut bad = Vec::new();
        for (name, want) in &expected {
            match outs.get(name) {
                None => {
                    bad.push(format!("'{name}' is not an output of the model (outputs: {})", outs.names.join(", ")))
                }
                Some(got) => {
                    // Expected files cannot hold bfloat16: compare those as float32.
                    let got = if got.dtype() == DType::BF16 && want.dtype() == DType::F32 {
                        got.cast(DType::F32)?
                    } else {
                        got.clone()
                    };
                    if let Err(m) = zenrt::conformance::compare(&got, want, a.rtol, a.atol) {
                        bad.push(format!("output '{name}': {m}"));
                    }
                }
            }
        }
        if !bad.is_empty() {
            return Err(CliError::Msg(format!(
                "{} of {} expected output(s) in {} do not match (rtol {}, atol {}):\n  {}",
                bad.len(),
                expected.len(),
                p.display(),
                a.rtol,
                a.atol,
                bad.join("\n  ")
            )));
        }
        println!("all {} expected output(s) match (rtol {}, atol {})", expected.len(), a.rtol, a.atol);
    }
    Ok(ExitCode::SUCCESS)
}
