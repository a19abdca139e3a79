//! Quick conformance check: `cargo run --release -p zenrt --example conformance -- DATA_DIR [FILTER]`
//! runs every case under DATA_DIR (e.g. ~/.cache/zenrt/onnx-testdata-1.23.2/node) whose name
//! contains FILTER and prints one line per case plus totals.
use zenrt::conformance::{list_cases, run_case, Outcome};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = std::path::PathBuf::from(args.get(1).expect("usage: conformance DATA_DIR [FILTER]"));
    let filter = args.get(2).cloned().unwrap_or_default();
    let (mut pass, mut fail, mut unsup) = (0, 0, 0);
    for dir in list_cases(&root) {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if !name.contains(&filter) {
            continue;
        }
        let r = run_case(&dir);
        match &r.outcome {
            Outcome::Pass => pass += 1,
            Outcome::Fail(m) => {
                fail += 1;
                println!("FAIL {name}: {m}");
            }
            Outcome::Unsupported(m) => {
                unsup += 1;
                println!("UNSUPPORTED {name}: {m}");
            }
        }
    }
    println!("passed {pass}, failed {fail}, unsupported {unsup}");
}
