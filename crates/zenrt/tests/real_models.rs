//! Real architectures (randomly initialised, exported from PyTorch by scripts/export_models.py)
//! run in zenrt and compared with ONNX Runtime's outputs on the same inputs, at batch 1 and 4.
//!
//! Error measure: for each output, max |zenrt − ORT| / max |ORT| (the error relative to the
//! output's scale) must be ≤ 1e-4. The models live in $ZENRT_MODELS (default
//! ~/.cache/zenrt/models); `scripts/test.sh` creates them before running the tests.

use std::path::PathBuf;
use zenrt::Session;

const MAX_REL_ERR: f64 = 1e-4;

fn models_dir() -> Option<PathBuf> {
    zenrt::testing::data_dir("ZENRT_MODELS", "models")
}

use zenrt::testing::rel_err;

fn check(model: &str) {
    let Some(root) = models_dir() else {
        eprintln!("SKIP {model}: no exported models (run scripts/test.sh, or set ZENRT_MODELS)");
        return;
    };
    let dir = root.join(model);
    assert!(dir.join("model.onnx").is_file(), "{} is missing: run scripts/export_models.py", dir.display());
    let session = Session::from_file(dir.join("model.onnx")).unwrap_or_else(|e| panic!("{model}: load failed: {e}"));
    for batch in [1, 4] {
        let inputs = zenrt::npy::read_npz(dir.join(format!("b{batch}_inputs.npz"))).unwrap();
        let expected = zenrt::npy::read_npz(dir.join(format!("b{batch}_expected.npz"))).unwrap();
        let outputs = session.run(inputs).unwrap_or_else(|e| panic!("{model} batch {batch}: run failed: {e}"));
        assert!(!expected.is_empty());
        for (name, want) in &expected {
            let got = outputs.get(name).unwrap_or_else(|| panic!("{model}: no output named {name}"));
            assert_eq!(got.shape(), want.shape(), "{model} batch {batch} output {name}: shape");
            assert_eq!(got.dtype(), want.dtype(), "{model} batch {batch} output {name}: dtype");
            let err = rel_err(got, want);
            eprintln!("{model} batch {batch} {name} {:?}: max error relative to scale {err:.2e}", got.shape());
            assert!(
                err <= MAX_REL_ERR,
                "{model} batch {batch} output {name}: relative error {err:.3e} > {MAX_REL_ERR:e}"
            );
        }
    }
}

macro_rules! real_model_tests {
    ($($name:ident),*) => { $( #[test] fn $name() { check(stringify!($name)); } )* };
}

real_model_tests!(resnet50, mobilenet_v2, efficientnet_b0, lstm, bigru, bert, dlrm, keras_cnn);

/// Static inference alone (the model's own shape declarations ignored) derives every output's
/// dtype and symbolic shape, e.g. `float32[batch,seq,256]` for BERT.
#[test]
fn static_inference_derives_declared_output_shapes() {
    let Some(root) = models_dir() else {
        eprintln!("SKIP static inference: no exported models");
        return;
    };
    for model in ["resnet50", "mobilenet_v2", "efficientnet_b0", "lstm", "bigru", "bert", "dlrm", "keras_cnn"] {
        let m = zenrt::onnx::load_model(&root.join(model).join("model.onnx")).unwrap();
        let inferred = zenrt::core::infer::infer_graph_with(&m.graph, false);
        for out in &m.graph.outputs {
            let got = inferred.get(&out.name).unwrap_or_else(|| panic!("{model}: nothing inferred for {}", out.name));
            assert_eq!(got.dtype, out.dtype, "{model} {}: dtype", out.name);
            assert_eq!(
                got.shape,
                out.shape,
                "{model} {}: inferred {} vs declared {}",
                out.name,
                got.type_string(),
                out.type_string()
            );
        }
    }
}
