//! Runs ONNX backend test cases (`model.onnx` + `test_data_set_N/{input,output}_K.pb`) and
//! compares with the expected outputs at ONNX's own tolerance (rtol 1e-3, atol 1e-7).
//! Every input is fed at run time; nothing is frozen into constants.

use crate::{Session, Tensor};
use std::path::{Path, PathBuf};

/// ONNX backend test tolerances.
pub const RTOL: f64 = 1e-3;
pub const ATOL: f64 = 1e-7;

/// Outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    /// The model loaded but an output was wrong or running failed.
    Fail(String),
    /// The model uses something zenrt does not support (operator, dtype, attribute type).
    Unsupported(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub outcome: Outcome,
}

fn sorted_pbs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let idx = name.strip_prefix(prefix)?.strip_suffix(".pb")?.parse().ok()?;
            Some((idx, e.path()))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Compares `got` with `want`: same dtype and shape, values within rtol/atol (NaN matches NaN).
pub fn compare(got: &Tensor, want: &Tensor, rtol: f64, atol: f64) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {} != expected {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} != expected {:?}", got.shape(), want.shape()));
    }
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let mut bad = 0usize;
    let mut first = None;
    let mut worst = 0.0f64;
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        let ok = if a.is_nan() || b.is_nan() {
            a.is_nan() && b.is_nan()
        } else if a.is_infinite() || b.is_infinite() {
            a == b
        } else {
            (a - b).abs() <= atol + rtol * b.abs()
        };
        if !ok {
            bad += 1;
            worst = worst.max((a - b).abs());
            first.get_or_insert((i, a, b));
        }
    }
    match first {
        None => Ok(()),
        Some((i, a, b)) => Err(format!("{bad}/{} values differ (max abs diff {worst:.3e}); first at flat index {i}: got {a}, expected {b}", g.len())),
    }
}

fn classify(e: &crate::Error) -> Outcome {
    use crate::Error as E;
    match e.root() {
        E::UnsupportedOps(_) | E::Unsupported(_) | E::UnsupportedDType { .. } => Outcome::Unsupported(e.to_string()),
        E::InvalidTensor { msg, .. } if msg.contains("not supported") => Outcome::Unsupported(e.to_string()),
        E::Attr { msg, .. } if msg.contains("not supported") => Outcome::Unsupported(e.to_string()),
        _ => Outcome::Fail(e.to_string()),
    }
}

/// Runs one case directory. Panics inside zenrt are caught and reported as failures.
pub fn run_case(dir: &Path) -> CaseResult {
    let name = dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let outcome = match std::panic::catch_unwind(|| run_case_inner(dir)) {
        Ok(o) => o,
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            Outcome::Fail(format!("PANIC: {msg}"))
        }
    };
    CaseResult { name, outcome }
}

fn run_case_inner(dir: &Path) -> Outcome {
    let session = match Session::from_file(dir.join("model.onnx")) {
        Ok(s) => s,
        Err(e) => return classify(&e),
    };
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("test_data_set")))
        .collect();
    sets.sort();
    if sets.is_empty() {
        return Outcome::Fail("no test_data_set directories".into());
    }
    let input_names: Vec<String> = session.inputs().iter().map(|i| i.name.clone()).collect();
    for set in &sets {
        let mut inputs = Vec::new();
        for (k, p) in sorted_pbs(set, "input_").iter().enumerate() {
            match crate::onnx::read_tensor_file(p) {
                Ok((n, t)) => {
                    let n = if n.is_empty() || !input_names.contains(&n) { input_names.get(k).cloned().unwrap_or(n) } else { n };
                    inputs.push((n, t));
                }
                Err(e) => return classify(&e),
            }
        }
        let outs = match session.run(inputs) {
            Ok(o) => o,
            Err(e) => return classify(&e),
        };
        for (k, p) in sorted_pbs(set, "output_").iter().enumerate() {
            let want = match crate::onnx::read_tensor_file(p) {
                Ok((_, t)) => t,
                Err(e) => return classify(&e),
            };
            let Some(got) = outs.tensors.get(k) else {
                return Outcome::Fail(format!("output #{k} missing"));
            };
            if let Err(m) = compare(got, &want, RTOL, ATOL) {
                return Outcome::Fail(format!("output '{}': {m}", outs.names[k]));
            }
        }
    }
    Outcome::Pass
}

/// All case directories under `root` (each holding a `model.onnx`), sorted by name.
pub fn list_cases(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    v.sort();
    v
}
