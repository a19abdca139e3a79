//! Graph optimization passes must not change results: each of the 8 real models is run with
//! every pass on and with every pass off, and the outputs must agree within 1e-5 relative to the
//! output's scale (max |on − off| / max |off|). Also reports how many rewrites each pass made per
//! model, and checks that each pass can be switched off alone. Skipped (with a message) when the
//! exported models are absent ($ZENRT_MODELS, default ~/.cache/zenrt/models).

use std::path::PathBuf;
use zenrt::{PassOptions, Session, SessionOptions};

const MAX_REL_DIFF: f64 = 1e-5;

fn models_dir() -> Option<PathBuf> {
    zenrt::testing::data_dir("ZENRT_MODELS", "models")
}

use zenrt::testing::rel_err;

fn session(path: &std::path::Path, passes: PassOptions) -> Session {
    #[allow(clippy::needless_update)] // other session options may be added
    let opts = SessionOptions { passes, ..Default::default() };
    Session::from_file_with(path, &opts).unwrap_or_else(|e| panic!("{}: load failed: {e}", path.display()))
}

fn check(model: &str) {
    let Some(root) = models_dir() else {
        eprintln!("SKIP {model}: no exported models (run scripts/test.sh, or set ZENRT_MODELS)");
        return;
    };
    let dir = root.join(model);
    let path = dir.join("model.onnx");
    assert!(path.is_file(), "{} is missing: run scripts/export_models.py", path.display());

    // Rewrite counts per pass.
    let loaded = zenrt::onnx::load_model(&path).unwrap();
    let mut g = loaded.graph.clone();
    let report = zenrt::core::passes::optimize(&mut g, &PassOptions::default()).unwrap();
    let counts: Vec<String> = report.iter().filter(|(_, n)| *n > 0).map(|(p, n)| format!("{p}={n}")).collect();
    eprintln!("{model}: nodes {} -> {}; rewrites: {}", loaded.graph.nodes.len(), g.nodes.len(), counts.join(" "));

    let off = session(&path, PassOptions { disable_all: true, ..Default::default() });
    let on = session(&path, PassOptions::default());
    for batch in [1, 4] {
        let inputs = zenrt::npy::read_npz(dir.join(format!("b{batch}_inputs.npz"))).unwrap();
        let want = off.run(inputs.clone()).unwrap_or_else(|e| panic!("{model} b{batch}: unoptimized run: {e}"));
        let got = on.run(inputs).unwrap_or_else(|e| panic!("{model} b{batch}: optimized run: {e}"));
        let names: Vec<String> = want.iter().map(|(n, _)| n.to_string()).collect();
        for name in &names {
            let w = want.get(name).unwrap_or_else(|| panic!("{model}: output {name} is not a tensor"));
            let gv = got.get(name).unwrap_or_else(|| panic!("{model}: optimized graph lacks output {name}"));
            assert_eq!(gv.shape(), w.shape(), "{model} b{batch} {name}: shape");
            assert_eq!(gv.dtype(), w.dtype(), "{model} b{batch} {name}: dtype");
            let d = rel_err(gv, w);
            eprintln!("{model} b{batch} {name}: passes on vs off, max diff relative to scale {d:.2e}");
            assert!(d <= MAX_REL_DIFF, "{model} b{batch} {name}: passes change the output by {d:.3e} (relative)");
        }
    }
}

macro_rules! model_tests {
    ($($name:ident),*) => { $( #[test] fn $name() { check(stringify!($name)); } )* };
}

model_tests!(resnet50, mobilenet_v2, efficientnet_b0, lstm, bigru, bert, dlrm, keras_cnn);

/// Every pass can be switched off on its own, and an unknown name is refused.
#[test]
fn each_pass_can_be_disabled() {
    let Some(root) = models_dir() else {
        eprintln!("SKIP: no exported models");
        return;
    };
    let path = root.join("keras_cnn/model.onnx");
    let loaded = zenrt::onnx::load_model(&path).unwrap();
    for name in zenrt::core::passes::pass_names() {
        let mut g = loaded.graph.clone();
        let report = zenrt::core::passes::optimize(&mut g, &PassOptions::default().disable(name)).unwrap();
        assert!(report.iter().all(|(p, _)| *p != name), "{name} ran although disabled");
    }
    let mut g = loaded.graph.clone();
    assert!(zenrt::core::passes::optimize(&mut g, &PassOptions::default().disable("no_such_pass")).is_err());
}
