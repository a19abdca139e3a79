//! End to end on real data: scikit-learn's digits (exported by scripts/export_digits.py), the CNN
//! of examples/digits_cnn.toml, held-out accuracy ≥ 97%, and the exported ONNX model agrees.

use std::path::PathBuf;
use zenrt_train::config::{train_from_config, RunOptions};

fn data_file() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".cache/zenrt/data/digits.npz")
}

#[test]
fn digits_cnn_reaches_97_percent_held_out() {
    let data = data_file();
    if !data.exists() {
        eprintln!("SKIP: {} is missing; run `python3 scripts/export_digits.py` (scripts/test.sh does)", data.display());
        return;
    }
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/digits_cnn.toml");
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions { verbose: false, out_dir: Some(dir.path().to_path_buf()), epochs: None };
    let r = train_from_config(&config, &opts).unwrap();
    let acc = r.history.last("val_accuracy").unwrap();
    eprintln!("digits: {}", r.to_json());
    assert_eq!((r.train_samples, r.val_samples), (1437, 360));
    assert!(acc >= 0.97, "held-out accuracy {acc} < 0.97");

    // The exported model, run by zenrt's inference, gives the reported held-out accuracy.
    let arrays = zenrt::npy::read_npz(&data).unwrap();
    let get = |k: &str| arrays.iter().find(|a| a.0 == k).unwrap().1.clone();
    let (x, y) = (get("x"), get("y"));
    let vx = zenrt_train::data::slice_rows(&x, 1437, 1797).unwrap();
    let vy = zenrt_train::data::slice_rows(&y, 1437, 1797).unwrap();
    let s = zenrt::Session::from_file(&r.onnx).unwrap();
    let out = s.run(vec![("input", vx)]).unwrap();
    let onnx_acc = zenrt_train::metrics::sparse_accuracy(out.tensor(0).unwrap(), &vy).unwrap();
    assert!((onnx_acc - acc).abs() < 1e-9, "exported model accuracy {onnx_acc} vs fit's {acc}");
    assert!(r.plot.exists() && std::fs::metadata(&r.plot).unwrap().len() > 1000);

    // Reproducible for a fixed seed.
    let opts2 = RunOptions { epochs: Some(2), ..opts.clone() };
    let a = train_from_config(&config, &opts2).unwrap();
    let b = train_from_config(&config, &opts2).unwrap();
    assert_eq!(a.history.series("val_loss"), b.history.series("val_loss"));
}
