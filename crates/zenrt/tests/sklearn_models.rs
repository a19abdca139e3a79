//! scikit-learn models exported with skl2onnx, and single-operator ai.onnx.ml models, run in
//! zenrt and compared with ONNX Runtime's outputs (scripts/export_sklearn.py makes them in
//! $ZENRT_SKLEARN, default ~/.cache/zenrt/sklearn). Integer and string labels must be equal,
//! float outputs (probabilities, scores, regression values) within 1e-5 of the output's scale;
//! ZipMap outputs must have the same keys in the same order. Every model is run and all
//! failures are reported together, by model name.

use std::path::{Path, PathBuf};
use zenrt::{Session, Value};

const MAX_REL_ERR: f64 = 1e-5;

fn sklearn_dir() -> Option<PathBuf> {
    zenrt::testing::data_dir("ZENRT_SKLEARN", "sklearn")
}

fn lines(path: &Path) -> Option<Vec<String>> {
    std::fs::read_to_string(path).ok().map(|s| s.lines().map(str::to_string).collect())
}

/// Compares one output; `Err` says how it differs.
fn compare(dir: &Path, name: &str, got: &Value, want: Option<&zenrt::Tensor>) -> Result<String, String> {
    if let Some(keys) = lines(&dir.join(format!("{name}.keys.txt"))) {
        let Value::Maps(m) = got else { return Err(format!("a {}, expected a sequence of maps", got.kind_name())) };
        let got_keys: Vec<String> = (0..m.keys.len()).map(|i| m.keys.display(i)).collect();
        if got_keys != keys {
            return Err(format!("map keys {got_keys:?}, expected {keys:?}"));
        }
        let want = want.ok_or("no expected map values")?;
        let err = zenrt::testing::rel_err(&m.values, want);
        return if m.values.shape() == want.shape() && err <= MAX_REL_ERR {
            Ok(format!("{} maps, error {err:.1e}", m.len()))
        } else {
            Err(format!("map values {:?} vs {:?}, error {err:.3e}", m.values.shape(), want.shape()))
        };
    }
    if let Some(strings) = lines(&dir.join(format!("{name}.strings.txt"))) {
        let Value::Strings(s) = got else { return Err(format!("a {}, expected strings", got.kind_name())) };
        let bad = s.data.iter().zip(&strings).filter(|(a, b)| a != b).count();
        return if s.data.len() == strings.len() && bad == 0 {
            Ok(format!("{} strings equal", strings.len()))
        } else {
            Err(format!("{bad} of {} strings differ (got {} values)", strings.len(), s.data.len()))
        };
    }
    let want = want.ok_or("no expected value")?;
    let got = got.as_tensor().map_err(|e| e.to_string())?;
    if got.shape() != want.shape() || got.dtype() != want.dtype() {
        return Err(format!("{} {:?}, expected {} {:?}", got.dtype(), got.shape(), want.dtype(), want.shape()));
    }
    if want.dtype().is_float() {
        let err = zenrt::testing::rel_err(got, want);
        return if err <= MAX_REL_ERR { Ok(format!("error {err:.1e}")) } else { Err(format!("error {err:.3e}")) };
    }
    let bad = got.to_i64_vec().iter().zip(want.to_i64_vec()).filter(|(a, b)| **a != *b).count();
    if bad == 0 {
        Ok("equal".into())
    } else {
        Err(format!("{bad} of {} values differ", want.len()))
    }
}

fn run_model(dir: &Path) -> Result<Vec<String>, String> {
    let session = Session::from_file(dir.join("model.onnx")).map_err(|e| format!("load: {e}"))?;
    let inputs = zenrt::npy::read_npz(dir.join("inputs.npz")).map_err(|e| e.to_string())?;
    let expected = zenrt::npy::read_npz(dir.join("expected.npz")).map_err(|e| e.to_string())?;
    let outs = session.run(inputs).map_err(|e| format!("run: {e}"))?;
    let mut notes = vec![];
    for (name, got) in outs.iter() {
        let want = expected.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        notes.push(compare(dir, name, got, want).map_err(|m| format!("output {name}: {m}"))?);
    }
    if let Some(n) = vs_sklearn(dir, &outs.values)? {
        notes.push(n);
    }
    Ok(notes)
}

/// The second reference: scikit-learn's own `predict` (labels equal; regression values within
/// 1e-5 of scale) and `predict_proba` (within 1e-5), where the model has them.
fn vs_sklearn(dir: &Path, outs: &[Value]) -> Result<Option<String>, String> {
    let Ok(skl) = zenrt::npy::read_npz(dir.join("sklearn.npz")) else { return Ok(None) };
    let values = |v: &Value| -> Option<zenrt::Tensor> {
        match v {
            Value::Maps(m) => Some(m.values.clone()),
            Value::Tensor(t) => Some((**t).clone()),
            _ => None,
        }
    };
    let mut checked = vec![];
    if let (Some(strings), Some(Value::Strings(s))) = (lines(&dir.join("sklearn_label.strings.txt")), outs.first()) {
        if s.data != strings {
            return Err("labels differ from scikit-learn's".into());
        }
        checked.push("label");
    }
    for (key, want) in &skl {
        let at = if key == "proba" { 1 } else { 0 };
        let Some(got) = outs.get(at).and_then(values) else { continue };
        if got.len() != want.len() || (key == "proba" && got.shape() != want.shape()) {
            continue; // e.g. LinearSVC has no predict_proba: "proba" is its predict
        }
        let ok = if want.dtype().is_float() {
            zenrt::testing::rel_err(&got, want) <= MAX_REL_ERR
        } else {
            got.to_i64_vec() == want.to_i64_vec()
        };
        if !ok {
            return Err(format!("{key} differs from scikit-learn's"));
        }
        checked.push(key.as_str());
    }
    Ok(Some(format!("scikit-learn agrees ({})", checked.join(", "))))
}

#[test]
fn sklearn_models_match_onnx_runtime() {
    let Some(root) = sklearn_dir() else {
        eprintln!("SKIP: no exported scikit-learn models (run scripts/export_sklearn.py, or set ZENRT_SKLEARN)");
        return;
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 20, "only {} models in {}", dirs.len(), root.display());
    let mut failures = vec![];
    for dir in &dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match run_model(dir) {
            Ok(notes) => eprintln!("{name}: {}", notes.join("; ")),
            Err(e) => {
                eprintln!("{name}: FAIL {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} models differ from ONNX Runtime:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
