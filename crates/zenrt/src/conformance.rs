//! Runs ONNX backend test cases (`model.onnx` + `test_data_set_N/{input,output}_K.pb`) and
//! compares with the expected outputs at ONNX's own tolerance (rtol 1e-3, atol 1e-7).
//! Every input is fed at run time; nothing is frozen into constants.

use crate::{Session, Tensor, Value};
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
        Some((i, a, b)) => Err(format!(
            "{bad}/{} values differ (max abs diff {worst:.3e}); first at flat index {i}: got {a}, expected {b}",
            g.len()
        )),
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
    run_case_with(dir, &crate::SessionOptions::default())
}

/// Runs one case directory with session options (e.g. on a CUDA device).
pub fn run_case_with(dir: &Path, opts: &crate::SessionOptions) -> CaseResult {
    let name = dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let outcome = match std::panic::catch_unwind(|| run_case_inner(dir, opts)) {
        Ok(o) => o,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Outcome::Fail(format!("PANIC: {msg}"))
        }
    };
    CaseResult { name, outcome }
}

fn run_case_inner(dir: &Path, opts: &crate::SessionOptions) -> Outcome {
    let session = match Session::from_file_with(dir.join("model.onnx"), opts) {
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
    let inputs_info = session.inputs().to_vec();
    let outputs_info = session.outputs().to_vec();
    for set in &sets {
        let mut inputs = Vec::new();
        for (k, p) in sorted_pbs(set, "input_").iter().enumerate() {
            // The model declares what each file holds: a TensorProto, SequenceProto or OptionalProto.
            let by_index = inputs_info.get(k);
            let kind = by_index.map(|i| i.kind).unwrap_or_default();
            let (n, v) = match crate::onnx::read_value_file(p, kind) {
                Ok(r) => r,
                Err(e) => return unrepresentable_io(dir).unwrap_or_else(|| classify(&e)),
            };
            let (n, v) = match inputs_info.iter().find(|i| !n.is_empty() && i.name == n) {
                Some(named) if named.kind != kind => match crate::onnx::read_value_file(p, named.kind) {
                    Ok(r) => r,
                    Err(e) => return classify(&e),
                },
                Some(_) => (n, v),
                None => (by_index.map(|i| i.name.clone()).unwrap_or(n), v),
            };
            inputs.push((n, v));
        }
        let outs = match session.run_values(inputs) {
            Ok(o) => o,
            Err(e) => return classify(&e),
        };
        for (k, p) in sorted_pbs(set, "output_").iter().enumerate() {
            let kind = outputs_info.get(k).map(|o| o.kind).unwrap_or_default();
            let want = match crate::onnx::read_value_file(p, kind) {
                Ok((_, v)) => v,
                Err(e) => return unrepresentable_io(dir).unwrap_or_else(|| classify(&e)),
            };
            let Some(got) = outs.values.get(k) else {
                return Outcome::Fail(format!("output #{k} missing"));
            };
            if let Err(m) = compare_values(got, &want, RTOL, ATOL) {
                return Outcome::Fail(format!("output '{}': {m}", outs.names[k]));
            }
        }
    }
    Outcome::Pass
}

/// Compares values: tensors with [`compare`], sequences element by element, optionals by
/// emptiness then content. An optional holding a value matches that value (a model may declare
/// an optional output whose expected data is the plain tensor or sequence, or the reverse).
pub fn compare_values(got: &Value, want: &Value, rtol: f64, atol: f64) -> Result<(), String> {
    match (got, want) {
        (Value::Tensor(g), Value::Tensor(w)) => compare(g, w, rtol, atol),
        (Value::Sequence(g), Value::Sequence(w)) => {
            if g.len() != w.len() {
                return Err(format!("sequence of {} tensors != expected {}", g.len(), w.len()));
            }
            for (i, (a, b)) in g.iter().zip(w.iter()).enumerate() {
                compare(a, b, rtol, atol).map_err(|m| format!("sequence element {i}: {m}"))?;
            }
            Ok(())
        }
        (Value::Optional(None), Value::Optional(None)) => Ok(()),
        (Value::Optional(Some(g)), Value::Optional(Some(w))) => compare_values(g, w, rtol, atol),
        (Value::Optional(Some(g)), w) if !matches!(w, Value::Optional(_)) => compare_values(g, w, rtol, atol),
        (g, Value::Optional(Some(w))) if !matches!(g, Value::Optional(_)) => compare_values(g, w, rtol, atol),
        (Value::Optional(None), _) => Err(format!("got an empty optional, expected a {}", want.kind_name())),
        (_, Value::Optional(None)) => Err(format!("got a {}, expected an empty optional", got.kind_name())),
        _ => Err(format!("got a {}, expected a {}", got.kind_name(), want.kind_name())),
    }
}

/// `Unsupported` if the case's model has graph inputs or outputs zenrt has no value for (maps,
/// sparse tensors, sequences of non-tensors): their test data cannot be decoded.
fn unrepresentable_io(dir: &Path) -> Option<Outcome> {
    use crate::onnx::onnx_proto::{type_proto::Value as T, ModelProto, TypeProto};
    use prost::Message;
    fn odd(t: &TypeProto) -> Option<&'static str> {
        match t.value.as_ref()? {
            T::TensorType(_) => None,
            T::SequenceType(s) => match s.elem_type.as_deref().and_then(|e| e.value.as_ref()) {
                Some(T::TensorType(_)) | None => None,
                Some(_) => Some("sequence of non-tensors"),
            },
            T::OptionalType(o) => o.elem_type.as_deref().and_then(odd),
            T::MapType(_) => Some("map"),
            T::SparseTensorType(_) => Some("sparse tensor"),
            #[allow(unreachable_patterns)]
            _ => Some("non-tensor"),
        }
    }
    let bytes = std::fs::read(dir.join("model.onnx")).ok()?;
    let g = ModelProto::decode(bytes.as_slice()).ok()?.graph?;
    let found: Vec<String> = g
        .input
        .iter()
        .chain(&g.output)
        .filter_map(|v| Some(format!("'{}' ({})", v.name.clone().unwrap_or_default(), odd(v.r#type.as_ref()?)?)))
        .collect();
    if found.is_empty() {
        None
    } else {
        Some(Outcome::Unsupported(format!(
            "graph inputs/outputs of these types are not supported: {}",
            found.join(", ")
        )))
    }
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

// ---------------------------------------------------------------------------------------------
// Suites: several sets of cases, run in parallel, compared with a list of cases expected to pass.
// ---------------------------------------------------------------------------------------------

/// Names of the ONNX backend test sets, as the folders `onnx/backend/test/data/<set>`.
pub const SETS: [&str; 5] = ["node", "simple", "pytorch-converted", "pytorch-operator", "light"];

/// The sets to run for `root`: each of [`SETS`] that `root` contains, or else `root` itself as
/// one set named after its folder.
pub fn discover_sets(root: &Path) -> Vec<(String, PathBuf)> {
    let found: Vec<(String, PathBuf)> =
        SETS.iter().map(|s| (s.to_string(), root.join(s))).filter(|(_, p)| p.is_dir()).collect();
    if !found.is_empty() {
        return found;
    }
    let name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| "cases".to_string());
    vec![(name, root.to_path_buf())]
}

/// One case of a suite run.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    pub set: String,
    pub name: String,
    pub outcome: Outcome,
    pub seconds: f64,
}

impl CaseRecord {
    /// `set/name`, as listed in the expected-pass file.
    pub fn id(&self) -> String {
        format!("{}/{}", self.set, self.name)
    }
}

/// How to run a suite.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// Only cases whose `set/name` contains this.
    pub filter: String,
    /// Worker threads.
    pub jobs: usize,
    /// A case still running after this long is reported as failed (its thread is abandoned).
    /// `None`: no limit.
    pub timeout: Option<std::time::Duration>,
    /// Session options for every case (device, passes).
    pub session: crate::SessionOptions,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        SuiteOptions {
            filter: String::new(),
            jobs: 2,
            timeout: Some(std::time::Duration::from_secs(300)),
            session: Default::default(),
        }
    }
}

fn run_case_guarded(dir: &Path, timeout: Option<std::time::Duration>, opts: &crate::SessionOptions) -> Outcome {
    let Some(limit) = timeout else {
        return run_case_with(dir, opts).outcome;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let d = dir.to_path_buf();
    let o = opts.clone();
    let spawned = std::thread::Builder::new().name("zenrt-case".into()).stack_size(64 << 20).spawn(move || {
        let _ = tx.send(run_case_with(&d, &o).outcome);
    });
    if let Err(e) = spawned {
        return Outcome::Fail(format!("cannot start a thread: {e}"));
    }
    match rx.recv_timeout(limit) {
        Ok(o) => o,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            Outcome::Fail(format!("TIMEOUT: still running after {:.0} s", limit.as_secs_f64()))
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Outcome::Fail("case thread died".into()),
    }
}

/// Runs every case of `sets` whose `set/name` contains `opts.filter`, on `opts.jobs` threads.
/// `progress` is called (from worker threads) after each case. Records come back sorted by id.
pub fn run_suite(
    sets: &[(String, PathBuf)],
    opts: &SuiteOptions,
    progress: &(dyn Fn(&CaseRecord) + Sync),
) -> Vec<CaseRecord> {
    let mut todo: Vec<(String, PathBuf)> = Vec::new();
    for (set, dir) in sets {
        for case in list_cases(dir) {
            let name = case.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if format!("{set}/{name}").contains(&opts.filter) {
                todo.push((set.clone(), case));
            }
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(todo.len()));
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((set, dir)) = todo.get(i) else { break };
                let t0 = std::time::Instant::now();
                let outcome = run_case_guarded(dir, opts.timeout, &opts.session);
                let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                let rec = CaseRecord { set: set.clone(), name, outcome, seconds: t0.elapsed().as_secs_f64() };
                progress(&rec);
                results.lock().unwrap_or_else(|p| p.into_inner()).push(rec);
            });
        }
    });
    let mut v = results.into_inner().unwrap_or_else(|p| p.into_inner());
    v.sort_by_key(|r| r.id());
    v
}

/// Passed / failed / unsupported counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub unsupported: usize,
}

impl Totals {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.unsupported
    }
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail(_) => self.failed += 1,
            Outcome::Unsupported(_) => self.unsupported += 1,
        }
    }
}

/// Totals per set (sorted by set name) and overall.
pub fn totals(records: &[CaseRecord]) -> (Vec<(String, Totals)>, Totals) {
    let mut per: std::collections::BTreeMap<String, Totals> = Default::default();
    let mut all = Totals::default();
    for r in records {
        per.entry(r.set.clone()).or_default().add(&r.outcome);
        all.add(&r.outcome);
    }
    (per.into_iter().collect(), all)
}

/// Reads an expected-pass list: one `set/case` per line; blank lines and `#` comments ignored.
pub fn read_expected(path: &Path) -> crate::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::Error::Io { path: path.to_path_buf(), source: e })?;
    Ok(parse_expected(&text))
}

/// Parses the text of an expected-pass list (see [`read_expected`]).
pub fn parse_expected(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Cases of `expected` that did not pass in `records` (only those matching `filter`), with why.
pub fn regressions(records: &[CaseRecord], expected: &[String], filter: &str) -> Vec<(String, String)> {
    let by_id: std::collections::HashMap<String, &CaseRecord> = records.iter().map(|r| (r.id(), r)).collect();
    expected
        .iter()
        .filter(|id| id.contains(filter))
        .filter_map(|id| match by_id.get(id.as_str()) {
            Some(r) => match &r.outcome {
                Outcome::Pass => None,
                Outcome::Fail(m) => Some((id.clone(), format!("FAIL: {m}"))),
                Outcome::Unsupported(m) => Some((id.clone(), format!("UNSUPPORTED: {m}"))),
            },
            None => Some((id.clone(), "case not found in the test data".to_string())),
        })
        .collect()
}

/// The new expected-pass list: entries of `old` that `filter` excluded from this run, plus every
/// case that passed now; sorted, one per line.
pub fn updated_expected(old: &[String], records: &[CaseRecord], filter: &str) -> String {
    let mut set: std::collections::BTreeSet<String> = old.iter().filter(|id| !id.contains(filter)).cloned().collect();
    set.extend(records.iter().filter(|r| r.outcome == Outcome::Pass).map(|r| r.id()));
    let mut s = String::from("# ONNX backend test cases that must pass (set/case). Regenerate with:\n#   zenrt conformance DATA_DIR --expected conformance/expected_pass.txt --update-expected\n");
    for id in set {
        s.push_str(&id);
        s.push('\n');
    }
    s
}

/// A short grouping key for a failure or unsupported reason: file/context prefixes removed,
/// numbers and quoted names replaced, so similar problems group together.
pub fn reason_key(outcome: &Outcome) -> String {
    let (kind, msg) = match outcome {
        Outcome::Pass => return "pass".into(),
        Outcome::Fail(m) => ("FAIL", m.as_str()),
        Outcome::Unsupported(m) => ("UNSUPPORTED", m.as_str()),
    };
    let mut m = msg;
    while let Some(rest) = m.strip_prefix("in ").and_then(|r| r.split_once(": ").map(|(_, b)| b)) {
        m = rest;
    }
    if let Some(ops) = m.split_once("unsupported operator(s): ").map(|(_, b)| b) {
        let mut names: Vec<&str> = ops.split("), ").map(|o| o.split(" (").next().unwrap_or(o)).collect();
        names.sort();
        names.dedup();
        return format!("{kind}: operator(s) {}", names.join(", "));
    }
    // node 'name' (Op): msg  →  Op: msg
    if let Some(rest) = m.strip_prefix("node '") {
        if let Some((_, after)) = rest.split_once("' (") {
            if let Some((op, tail)) = after.split_once("): ") {
                return format!("{kind}: {op}: {}", normalize(tail));
            }
        }
    }
    format!("{kind}: {}", normalize(m))
}

fn normalize(m: &str) -> String {
    let mut out = String::new();
    let mut chars = m.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit()
            || (c == '-'
                && chars.peek().is_some_and(|d| d.is_ascii_digit())
                && !out.ends_with(|p: char| p.is_alphanumeric()))
        {
            while chars.peek().is_some_and(|d| d.is_ascii_digit() || *d == '.' || *d == 'e' || *d == '-') {
                chars.next();
            }
            out.push('N');
        } else if c == '\'' {
            for d in chars.by_ref() {
                if d == '\'' {
                    break;
                }
            }
            out.push_str("'…'");
        } else {
            out.push(c);
        }
    }
    if out.chars().count() > 120 {
        out = out.chars().take(117).collect::<String>() + "...";
    }
    out
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A JSON report: totals per set and every case's outcome and reason.
pub fn report_json(records: &[CaseRecord], data_dir: &str) -> String {
    let (per, all) = totals(records);
    let tot = |t: &Totals| {
        format!(
            "{{\"passed\": {}, \"failed\": {}, \"unsupported\": {}, \"total\": {}}}",
            t.passed,
            t.failed,
            t.unsupported,
            t.total()
        )
    };
    let mut s = format!("{{\n  \"data_dir\": {},\n  \"totals\": {},\n  \"sets\": {{", json_str(data_dir), tot(&all));
    for (i, (set, t)) in per.iter().enumerate() {
        s.push_str(&format!("{}\n    {}: {}", if i > 0 { "," } else { "" }, json_str(set), tot(t)));
    }
    s.push_str("\n  },\n  \"cases\": [");
    for (i, r) in records.iter().enumerate() {
        let (o, reason) = match &r.outcome {
            Outcome::Pass => ("pass", "null".to_string()),
            Outcome::Fail(m) => ("fail", json_str(m)),
            Outcome::Unsupported(m) => ("unsupported", json_str(m)),
        };
        s.push_str(&format!(
            "{}\n    {{\"set\": {}, \"name\": {}, \"outcome\": \"{o}\", \"reason\": {reason}, \"seconds\": {:.4}}}",
            if i > 0 { "," } else { "" },
            json_str(&r.set),
            json_str(&r.name),
            r.seconds
        ));
    }
    s.push_str("\n  ]\n}\n");
    s
}

/// A Markdown summary: totals per set, then failed and unsupported cases grouped by reason.
pub fn report_markdown(records: &[CaseRecord], data_dir: &str) -> String {
    let (per, all) = totals(records);
    let pct = |t: &Totals| {
        if t.total() == 0 {
            0.0
        } else {
            100.0 * t.passed as f64 / t.total() as f64
        }
    };
    let mut s = format!("# zenrt conformance\n\nData: `{data_dir}`\n\n| set | passed | failed | unsupported | total | pass rate |\n|---|---:|---:|---:|---:|---:|\n");
    for (set, t) in per.iter().chain(std::iter::once(&("**all**".to_string(), all))) {
        s.push_str(&format!(
            "| {set} | {} | {} | {} | {} | {:.1}% |\n",
            t.passed,
            t.failed,
            t.unsupported,
            t.total(),
            pct(t)
        ));
    }
    for (title, want_fail) in [("Failures", true), ("Unsupported", false)] {
        let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for r in records {
            let hit = matches!((&r.outcome, want_fail), (Outcome::Fail(_), true) | (Outcome::Unsupported(_), false));
            if hit {
                groups.entry(reason_key(&r.outcome)).or_default().push(r.id());
            }
        }
        if groups.is_empty() {
            continue;
        }
        let mut groups: Vec<(String, Vec<String>)> = groups.into_iter().collect();
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        s.push_str(&format!("\n## {title} by reason\n"));
        const SHOW: usize = 40;
        for (reason, cases) in groups {
            let reason = reason.replace('|', "\\|").replace('`', "'");
            let more = if cases.len() > SHOW { format!(" and {} more", cases.len() - SHOW) } else { String::new() };
            let shown: Vec<&str> = cases.iter().take(SHOW).map(|c| c.as_str()).collect();
            s.push_str(&format!("\n- **{}** — `{reason}`\n  - {}{more}\n", cases.len(), shown.join(", ")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(set: &str, name: &str, o: Outcome) -> CaseRecord {
        CaseRecord { set: set.into(), name: name.into(), outcome: o, seconds: 0.0 }
    }

    #[test]
    fn values_compare_by_kind() {
        use std::sync::Arc;
        let t = |v: &[f32]| Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap();
        let seq = |ts: Vec<Tensor>| Value::Sequence(Arc::new(ts));
        let opt = |v: Option<Value>| Value::Optional(v.map(Box::new));
        let a = seq(vec![t(&[1.0]), t(&[2.0, 3.0])]);
        assert!(compare_values(&a, &a.clone(), RTOL, ATOL).is_ok());
        let e = compare_values(&a, &seq(vec![t(&[1.0]), t(&[2.0, 4.0])]), RTOL, ATOL).unwrap_err();
        assert!(e.starts_with("sequence element 1:"), "{e}");
        assert!(compare_values(&a, &seq(vec![t(&[1.0])]), RTOL, ATOL).is_err());
        assert!(compare_values(&a, &Value::from(t(&[1.0])), RTOL, ATOL).is_err());
        assert!(compare_values(&opt(None), &opt(None), RTOL, ATOL).is_ok());
        assert!(compare_values(&opt(None), &opt(Some(a.clone())), RTOL, ATOL).is_err());
        assert!(compare_values(&opt(Some(a.clone())), &opt(None), RTOL, ATOL).is_err());
        assert!(compare_values(&opt(Some(a.clone())), &a, RTOL, ATOL).is_ok());
        assert!(compare_values(&a, &opt(Some(a.clone())), RTOL, ATOL).is_ok());
        assert!(compare_values(&opt(None), &a, RTOL, ATOL).is_err());
    }

    #[test]
    fn reasons_group_similar_failures() {
        let a = reason_key(&Outcome::Fail("in /x/a/model.onnx: node 'n1' (Conv): shape error: [1, 2] vs [3]".into()));
        let b =
            reason_key(&Outcome::Fail("in /x/b/model.onnx: node 'other' (Conv): shape error: [4, 5] vs [6]".into()));
        assert_eq!(a, b);
        assert!(a.starts_with("FAIL: Conv: shape error"), "{a}");
        let u = reason_key(&Outcome::Unsupported(
            "in /m.onnx: model uses 2 unsupported operator(s): Foo (domain ai.onnx, opset 13), Bar (domain ai.onnx, opset 13)".into(),
        ));
        assert_eq!(u, "UNSUPPORTED: operator(s) Bar, Foo");
    }

    #[test]
    fn expected_lists_and_regressions() {
        let recs = vec![
            rec("node", "test_a", Outcome::Pass),
            rec("node", "test_b", Outcome::Fail("bad".into())),
            rec("simple", "test_c", Outcome::Pass),
        ];
        let exp = parse_expected("# c\nnode/test_a\n\nnode/test_b  # was passing\nnode/test_gone\n");
        assert_eq!(exp, ["node/test_a", "node/test_b", "node/test_gone"]);
        let reg = regressions(&recs, &exp, "");
        assert_eq!(reg.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["node/test_b", "node/test_gone"]);
        assert!(regressions(&recs, &exp, "test_a").is_empty());
        let up = parse_expected(&updated_expected(&exp, &recs, "node/"));
        assert_eq!(up, ["node/test_a", "simple/test_c"]);
        let (per, all) = totals(&recs);
        assert_eq!(all, Totals { passed: 2, failed: 1, unsupported: 0 });
        assert_eq!(per.len(), 2);
        let j = report_json(&recs, "/d\"x");
        assert!(j.contains("\"name\": \"test_b\", \"outcome\": \"fail\", \"reason\": \"bad\""), "{j}");
        assert!(report_markdown(&recs, "/d").contains("| node | 1 | 1 | 0 | 2 | 50.0% |"));
    }
}
