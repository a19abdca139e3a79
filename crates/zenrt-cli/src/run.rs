//! `zenrt run MODEL ...`: feed inputs from .npz/.npy files (or random ones), print/save outputs,
//! optionally compare them with expected outputs.

use crate::util::{random_tensor, summary, CliError, CliResult, Rng};
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use zenrt::{DType, Dim, Session, Tensor};

#[derive(Args)]
pub struct RunArgs {
    /// The .onnx file.
    pub model: PathBuf,
    /// Inputs from an .npz whose keys are the model's input names.
    #[arg(long, value_name = "IN.npz")]
    pub inputs: Option<PathBuf>,
    /// One input from an .npy file (repeatable; overrides --inputs).
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    pub input: Vec<String>,
    /// Save the outputs to an .npz keyed by output name.
    #[arg(long, value_name = "OUT.npz")]
    pub output: Option<PathBuf>,
    /// Size of a symbolic dimension for generated inputs (repeatable; others default to 1).
    #[arg(long = "dim", value_name = "NAME=N")]
    pub dim: Vec<String>,
    /// Seed for generated inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compare every output in this .npz with what the model produced; exit 1 on mismatch.
    #[arg(long, value_name = "EXPECTED.npz")]
    pub assert_outputs: Option<PathBuf>,
    /// Relative tolerance for --assert-outputs.
    #[arg(long, default_value_t = 1e-4)]
    pub rtol: f64,
    /// Absolute tolerance for --assert-outputs.
    #[arg(long, default_value_t = 1e-5)]
    pub atol: f64,
}

fn split_kv<'a>(s: &'a str, flag: &str) -> CliResult<(&'a str, &'a str)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k, v)),
        _ => Err(CliError::Msg(format!("{flag} expects NAME=VALUE, got '{s}'"))),
    }
}

pub fn run(a: RunArgs) -> CliResult<ExitCode> {
    let mut dims: HashMap<String, usize> = HashMap::new();
    for d in &a.dim {
        let (k, v) = split_kv(d, "--dim")?;
        let n: usize =
            v.parse().map_err(|_| CliError::Msg(format!("--dim {k}: '{v}' is not a non-negative integer")))?;
        dims.insert(k.to_string(), n);
    }
    let t0 = std::time::Instant::now();
    let session = Session::from_file(&a.model)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;

    // Inputs: --inputs, then --input overrides, in a stable order.
    let mut given: Vec<(String, Tensor)> = Vec::new();
    if let Some(p) = &a.inputs {
        given = zenrt::npy::read_npz(p)?;
    }
    for spec in &a.input {
        let (k, f) = split_kv(spec, "--input")?;
        let t = zenrt::npy::read_npy(f)?;
        given.retain(|(n, _)| n != k);
        given.push((k.to_string(), t));
    }
    for (n, t) in &given {
        println!("input  {n} (from file): {}", summary(t));
        // Symbolic dims not set by --dim take their size from inputs read from files.
        if let Some(Some(shape)) = session.inputs().iter().find(|v| v.name == *n).map(|v| &v.shape) {
            if shape.len() == t.rank() {
                for (d, &size) in shape.iter().zip(t.shape()) {
                    if let Dim::Sym(s) = d {
                        dims.entry(s.clone()).or_insert(size);
                    }
                }
            }
        }
    }
    let mut rng = Rng::new(a.seed);
    for vi in session.inputs() {
        if given.iter().any(|(n, _)| *n == vi.name) {
            continue;
        }
        let dtype = vi.dtype.unwrap_or(DType::F32);
        let shape: Vec<usize> = match &vi.shape {
            Some(s) => s
                .iter()
                .map(|d| match d {
                    Dim::Known(n) => *n,
                    Dim::Sym(s) => dims.get(s).copied().unwrap_or(1),
                    Dim::Unknown => 1,
                })
                .collect(),
            None => {
                eprintln!("zenrt: note: input '{}' has no declared rank; generating shape [1]", vi.name);
                vec![1]
            }
        };
        let t =
            random_tensor(dtype, shape, &mut rng).map_err(|e| e.context(format!("generating input '{}'", vi.name)))?;
        println!("input  {} (random, seed {}): {}", vi.name, a.seed, summary(&t));
        given.push((vi.name.clone(), t));
    }
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
