//! End-to-end tests of the `zenrt` binary.

use std::path::Path;
use std::process::{Command, Output};
use zenrt::Tensor;

fn zenrt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zenrt")).args(args).output().expect("run zenrt")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string())
}

fn no_panic(err: &str) {
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}

fn write_model(dir: &Path) -> String {
    let p = dir.join("add.onnx");
    std::fs::write(&p, zenrt::testing::tiny_add_model()).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn inspect_prints_metadata_and_shapes() {
    let d = tempfile::tempdir().unwrap();
    let m = write_model(d.path());
    let o = zenrt(&["inspect", &m, "--shapes"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for want in [
        "ir_version: 8",
        "ai.onnx=17",
        "x: float32[n]",
        "y: float32[n]",
        "Add  1",
        "all operators supported",
        "-> y: float32[n]",
    ] {
        assert!(out.contains(want), "missing '{want}' in:\n{out}");
    }
}

#[test]
fn run_with_npz_inputs_outputs_and_assert() {
    let d = tempfile::tempdir().unwrap();
    let m = write_model(d.path());
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let x = Tensor::from_vec(vec![3], vec![1.0f32, 2.0, 3.5]).unwrap();
    zenrt::npy::write_npz(p("in.npz"), &[("x", &x)]).unwrap();
    zenrt::npy::write_npy(p("x.npy"), &x).unwrap();
    let good = Tensor::from_vec(vec![3], vec![2.0f32, 4.0, 7.0]).unwrap();
    let bad = Tensor::from_vec(vec![3], vec![2.0f32, 4.0, 7.5]).unwrap();
    zenrt::npy::write_npz(p("good.npz"), &[("y", &good)]).unwrap();
    zenrt::npy::write_npz(p("bad.npz"), &[("y", &bad)]).unwrap();

    let o =
        zenrt(&["run", &m, "--inputs", &p("in.npz"), "--output", &p("out.npz"), "--assert-outputs", &p("good.npz")]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("output y: float32[3] min=2 max=7 mean=4.333333 [2, 4, 7]"), "{out}");
    let saved = zenrt::npy::read_npz(p("out.npz")).unwrap();
    assert_eq!(saved[0].0, "y");
    assert_eq!(saved[0].1, good);

    let o = zenrt(&["run", &m, "--input", &format!("x={}", p("x.npy")), "--assert-outputs", &p("bad.npz")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("output 'y': 1/3 values differ"), "{err}");
    no_panic(&err);

    // Random inputs with a symbolic dim.
    let o = zenrt(&["run", &m, "--dim", "n=5", "--seed", "3"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("input  x (random, seed 3): float32[5]") && out.contains("output y: float32[5]"), "{out}");
}

#[test]
fn errors_are_one_clear_line() {
    let d = tempfile::tempdir().unwrap();
    let m = write_model(d.path());
    let garbage = d.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07\x12\xff\xff\xff\xff\x0fjunk").unwrap();
    let wrong = d.path().join("wrong.npz");
    zenrt::npy::write_npz(&wrong, &[("x", &Tensor::from_vec(vec![3], vec![1i64, 2, 3]).unwrap())]).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["run".into(), "/no/such/model.onnx".into()], "cannot read /no/such/model.onnx"),
        (vec!["inspect".into(), garbage.to_str().unwrap().into()], "is not a valid ONNX protobuf"),
        (
            vec!["run".into(), m.clone(), "--inputs".into(), wrong.to_str().unwrap().into()],
            "input 'x': expected dtype float32, got int64",
        ),
        (vec!["run".into(), m.clone(), "--input".into(), "nope=/no/file.npy".into()], "cannot read /no/file.npy"),
        (vec!["run".into(), m.clone(), "--dim".into(), "n=abc".into()], "--dim n: 'abc'"),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let o = zenrt(&args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("zenrt: error: ") && err.contains(want), "{args:?}: {err}");
        no_panic(&err);
    }
}

/// A conformance case folder: model y = x + x, one data set.
fn write_case(dir: &Path, name: &str, expected_y: &[f32]) {
    use prost::Message;
    let c = dir.join(name);
    std::fs::create_dir_all(c.join("test_data_set_0")).unwrap();
    std::fs::write(c.join("model.onnx"), zenrt::testing::tiny_add_model()).unwrap();
    let x = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
    let y = Tensor::from_vec(vec![2], expected_y.to_vec()).unwrap();
    std::fs::write(c.join("test_data_set_0/input_0.pb"), zenrt::onnx::tensor_to_proto("x", &x).encode_to_vec())
        .unwrap();
    std::fs::write(c.join("test_data_set_0/output_0.pb"), zenrt::onnx::tensor_to_proto("y", &y).encode_to_vec())
        .unwrap();
}

#[test]
fn conformance_reports_and_expected_list() {
    let d = tempfile::tempdir().unwrap();
    let node = d.path().join("node");
    write_case(&node, "test_good", &[2.0, 4.0]);
    write_case(&node, "test_wrong", &[2.0, 5.0]);
    let root = d.path().to_str().unwrap();
    let exp = d.path().join("expected.txt");
    let exp_s = exp.to_str().unwrap();
    let md = d.path().join("r.md");
    let js = d.path().join("r.json");

    let o = zenrt(&[
        "conformance",
        root,
        "--expected",
        exp_s,
        "--update-expected",
        "--report",
        md.to_str().unwrap(),
        "--report",
        js.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("node       1       1            0       2"), "{out}");
    let list = std::fs::read_to_string(&exp).unwrap();
    assert_eq!(zenrt::conformance::parse_expected(&list), ["node/test_good"]);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("| node | 1 | 1 | 0 | 2 | 50.0% |") && md.contains("node/test_wrong"), "{md}");
    let js = std::fs::read_to_string(&js).unwrap();
    assert!(js.contains("\"name\": \"test_wrong\", \"outcome\": \"fail\""), "{js}");

    // The list holds; then a listed case breaks: exit 1 naming it.
    assert!(zenrt(&["conformance", root, "--expected", exp_s]).status.success());
    write_case(&node, "test_good", &[2.0, 4.5]);
    let o = zenrt(&["conformance", root, "--expected", exp_s]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("node/test_good: FAIL"), "{err}");
}

/// Parses a flat JSON object whose values are numbers, strings, null or arrays of numbers; returns the numbers.
fn flat_json_numbers(line: &str) -> std::collections::HashMap<String, f64> {
    let body = line.trim().strip_prefix('{').and_then(|s| s.strip_suffix('}')).expect("a JSON object");
    let mut out = std::collections::HashMap::new();
    let (mut depth, mut in_str, mut start) = (0, false, 0);
    let mut parts = Vec::new();
    for (i, c) in body.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '[' if !in_str => depth += 1,
            ']' if !in_str => depth -= 1,
            ',' if !in_str && depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    for p in parts {
        let (k, v) = p.split_once("\":").expect("key:value");
        let k = k.trim().trim_start_matches('"').to_string();
        let v = v.trim();
        assert!(
            v.starts_with('"') || v.starts_with('[') || v == "null" || v.parse::<f64>().is_ok(),
            "bad JSON value for {k}: {v}"
        );
        if let Ok(x) = v.parse::<f64>() {
            out.insert(k, x);
        }
    }
    out
}

#[test]
fn bench_json_last_line_has_the_results() {
    let d = tempfile::tempdir().unwrap();
    let m = write_model(d.path());
    let o = zenrt(&["bench", &m, "--batch", "4", "--threads", "2", "--warmup", "1", "--iters", "5", "--json"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    no_panic(&err);
    let last = out.lines().last().expect("output");
    let j = flat_json_numbers(last);
    for k in
        ["median_ms", "p90_ms", "p99_ms", "min_ms", "mean_ms", "load_ms", "peak_rss_bytes", "iters", "batch", "threads"]
    {
        assert!(j.contains_key(k), "missing '{k}' in {last}");
    }
    assert_eq!((j["iters"], j["batch"], j["threads"]), (5.0, 4.0, 2.0));
    assert!(j["min_ms"] <= j["median_ms"] && j["median_ms"] <= j["p90_ms"] && j["p90_ms"] <= j["p99_ms"], "{last}");
    assert!(j["peak_rss_bytes"] > 0.0, "{last}");
    // --batch sized the generated input's symbolic dim.
    assert!(err.contains("float32[4]"), "{err}");
}

#[test]
fn bench_rejects_zero_iters() {
    let d = tempfile::tempdir().unwrap();
    let m = write_model(d.path());
    let o = zenrt(&["bench", &m, "--iters", "0"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("--iters"), "{err}");
}

#[test]
fn profile_lists_the_models_op_types() {
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/tiny_cnn.onnx");
    let m = m.to_str().unwrap();
    let session = zenrt::Session::from_file(m).unwrap();
    let ops: std::collections::BTreeSet<String> = session.plan().nodes().map(|n| n.op_type.clone()).collect();
    assert!(!ops.is_empty());
    let o = zenrt(&["profile", m, "--iters", "2", "--warmup", "0"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    no_panic(&err);
    assert!(out.contains("optimized graph"), "{out}");
    let table: Vec<&str> =
        out.lines().skip_while(|l| !l.starts_with("op type")).skip(1).take_while(|l| !l.trim().is_empty()).collect();
    let listed: std::collections::BTreeSet<String> =
        table.iter().filter_map(|l| l.split_whitespace().next()).map(String::from).collect();
    assert_eq!(listed, ops, "{out}");
    assert!(out.contains("top "), "{out}");
}
