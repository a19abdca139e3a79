//! Model inputs for `run`, `bench` and `profile`: read from .npz/.npy files, the rest generated at random
//! with symbolic dims taken from `--dim`, `--batch` or the files.

use crate::util::{random_tensor, summary, CliError, CliResult, Rng};
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use zenrt::{DType, Dim, Session, Tensor};

#[derive(Args, Clone, Debug)]
pub struct InputArgs {
    /// Inputs from an .npz whose keys are the model's input names.
    #[arg(long, value_name = "IN.npz")]
    pub inputs: Option<PathBuf>,
    /// One input from an .npy file (repeatable; overrides --inputs).
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    pub input: Vec<String>,
    /// Size of a symbolic dimension for generated inputs (repeatable; others default to 1).
    #[arg(long = "dim", value_name = "NAME=N")]
    pub dim: Vec<String>,
    /// Seed for generated inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// CUDA: allow TF32 tensor cores for fp32 matrix products.
    #[arg(long)]
    pub tf32: bool,
    /// CUDA: run nodes without a CUDA kernel on the CPU instead of failing (reported).
    #[arg(long)]
    pub cpu_fallback: bool,
    /// Float storage precision: fp32, fp16 or bf16 (fp16/bf16 need --device cuda:N).
    #[arg(long, default_value = "fp32")]
    pub precision: String,
}

impl InputArgs {
    /// Session options from --device / --tf32 / --cpu-fallback.
    pub fn session_options(&self) -> CliResult<zenrt::SessionOptions> {
        Ok(zenrt::SessionOptions {
            device: self.device.parse()?,
            allow_tf32: self.tf32,
            cpu_fallback: self.cpu_fallback,
            precision: self.precision.parse()?,
            ..Default::default()
        })
    }
}

pub fn split_kv<'a>(s: &'a str, flag: &str) -> CliResult<(&'a str, &'a str)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k, v)),
        _ => Err(CliError::Msg(format!("{flag} expects NAME=VALUE, got '{s}'"))),
    }
}

/// Whether a symbolic dim's name says it is the batch size.
pub fn is_batch_name(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "batch" | "n" | "batch_size" | "batchsize" | "bs")
}

/// The inputs for one run, in a stable order: files first (`--inputs`, then `--input` overrides), then random
/// tensors for the inputs not given. `batch` sets every symbolic dim named like a batch dim, and the first dim of
/// each generated input when it is symbolic or unknown (explicit `--dim`s win). Each input is described on stdout
/// (`log`) or stderr.
pub fn make_inputs(
    session: &Session,
    a: &InputArgs,
    batch: Option<usize>,
    log: bool,
) -> CliResult<Vec<(String, Tensor)>> {
    let say = |s: String| if log { println!("{s}") } else { eprintln!("{s}") };
    let mut explicit: HashMap<String, usize> = HashMap::new();
    for d in &a.dim {
        let (k, v) = split_kv(d, "--dim")?;
        let n: usize =
            v.parse().map_err(|_| CliError::Msg(format!("--dim {k}: '{v}' is not a non-negative integer")))?;
        explicit.insert(k.to_string(), n);
    }
    let mut dims = explicit.clone();
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
        say(format!("input  {n} (from file): {}", summary(t)));
        // Symbolic dims not set by --dim take their size from inputs read from files.
        if let Some(Some(shape)) = session.inputs().iter().find(|v| v.name == *n).map(|v| &v.shape) {
            if shape.len() == t.rank() {
                for (i, (d, &size)) in shape.iter().zip(t.shape()).enumerate() {
                    if let Dim::Sym(s) = d {
                        dims.entry(s.clone()).or_insert(size);
                    }
                    if let (Some(b), 0, Dim::Sym(_) | Dim::Unknown) = (batch, i, d) {
                        if size != b {
                            eprintln!("zenrt: warning: input '{n}' from file has first dim {size}, not --batch {b}");
                        }
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
                .enumerate()
                .map(|(i, d)| match (d, batch) {
                    (Dim::Known(n), _) => *n,
                    (Dim::Sym(s), _) if explicit.contains_key(s) => explicit[s],
                    (Dim::Sym(s), Some(b)) if i == 0 || is_batch_name(s) => b,
                    (Dim::Sym(s), _) => dims.get(s).copied().unwrap_or(1),
                    (Dim::Unknown, Some(b)) if i == 0 => b,
                    (Dim::Unknown, _) => 1,
                })
                .collect(),
            None => {
                eprintln!("zenrt: note: input '{}' has no declared rank; generating shape [1]", vi.name);
                vec![1]
            }
        };
        let t =
            random_tensor(dtype, shape, &mut rng).map_err(|e| e.context(format!("generating input '{}'", vi.name)))?;
        say(format!("input  {} (random, seed {}): {}", vi.name, a.seed, summary(&t)));
        given.push((vi.name.clone(), t));
    }
    Ok(given)
}
