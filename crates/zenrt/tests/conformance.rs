//! The ONNX backend test suite: every case listed in `conformance/expected_pass.txt` must pass.
//!
//! Test data root: `$ZENRT_ONNX_TESTDATA`, else `~/.cache/zenrt/onnx-testdata-1.23.2`; it holds
//! the sets `node/`, `simple/`, `pytorch-converted/`, `pytorch-operator/`, `light/` (those present
//! are run). Without test data the test prints SKIP and passes.
//! Set `ZENRT_CONFORMANCE_REPORT=FILE.md` (or `.json`) to also write a report.
//! Regenerate the list: `zenrt conformance DATA --expected conformance/expected_pass.txt --update-expected`.

use std::path::PathBuf;
use zenrt::conformance::{self as conf, SuiteOptions};

fn data_root() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ZENRT_ONNX_TESTDATA") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".cache/zenrt/onnx-testdata-1.23.2"))
}

#[test]
fn onnx_backend_tests_expected_to_pass_still_pass() {
    let Some(root) = data_root().filter(|p| p.is_dir()) else {
        eprintln!(
            "SKIP onnx_backend_tests_expected_to_pass_still_pass: no ONNX test data at {} (set ZENRT_ONNX_TESTDATA)",
            data_root()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "$HOME/.cache/zenrt/onnx-testdata-1.23.2".into())
        );
        return;
    };
    let list = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance/expected_pass.txt");
    let expected = conf::read_expected(&list).unwrap_or_else(|e| panic!("{e}"));
    let sets = conf::discover_sets(&root);
    let filter = std::env::var("ZENRT_CONFORMANCE_FILTER").unwrap_or_default();
    let opts = SuiteOptions { filter: filter.clone(), ..Default::default() };
    let t0 = std::time::Instant::now();
    let records = conf::run_suite(&sets, &opts, &|_| {});
    let (per, all) = conf::totals(&records);
    println!("ONNX backend tests under {} ({:.1} s):", root.display(), t0.elapsed().as_secs_f64());
    for (set, t) in per.iter().chain(std::iter::once(&("all".to_string(), all))) {
        println!(
            "  {set:<18} passed {:>5}  failed {:>5}  unsupported {:>5}  total {:>5}",
            t.passed,
            t.failed,
            t.unsupported,
            t.total()
        );
    }
    if let Ok(report) = std::env::var("ZENRT_CONFORMANCE_REPORT") {
        let text = if report.ends_with(".json") {
            conf::report_json(&records, &root.display().to_string())
        } else {
            conf::report_markdown(&records, &root.display().to_string())
        };
        std::fs::write(&report, text).unwrap_or_else(|e| panic!("cannot write {report}: {e}"));
        println!("wrote {report}");
    }
    // Only judge the sets present in this data (a partial data folder skips the others).
    let present: Vec<&str> = sets.iter().map(|(s, _)| s.as_str()).collect();
    let expected: Vec<String> =
        expected.into_iter().filter(|id| present.iter().any(|s| id.starts_with(&format!("{s}/")))).collect();
    let reg = conf::regressions(&records, &expected, &filter);
    let checked = expected.iter().filter(|id| id.contains(&filter)).count();
    assert!(
        reg.is_empty(),
        "{} of {checked} case(s) listed in {} no longer pass:\n{}",
        reg.len(),
        list.display(),
        reg.iter().map(|(id, why)| format!("  {id}: {why}")).collect::<Vec<_>>().join("\n")
    );
    println!("all {checked} expected-pass case(s) pass");
}
