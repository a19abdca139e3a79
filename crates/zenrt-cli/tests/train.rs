//! `zenrt train`: a small CSV problem end to end (JSON last line, files written, the ONNX model
//! runs), and the bad-input paths (unreadable data, a layer that does not fit, wrong labels,
//! NaN loss with the last good weights saved).

use std::path::Path;
use std::process::{Command, Output};

fn zenrt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zenrt")).args(args).output().expect("run zenrt")
}

/// Three separable classes in 2-D; `poison` puts a NaN in that row.
fn write_csv(path: &Path, poison: Option<usize>) {
    let mut s = String::from("a,b,label\n");
    for i in 0..150 {
        let c = i % 3;
        let (cx, cy) = [(0.0, 0.0), (3.0, 0.0), (0.0, 3.0)][c];
        let (dx, dy) = (((i * 37) % 11) as f64 / 11.0 - 0.5, ((i * 53) % 13) as f64 / 13.0 - 0.5);
        let a = if poison == Some(i) { "nan".to_string() } else { format!("{}", cx + dx) };
        s += &format!("{a},{},{c}\n", cy + dy);
    }
    std::fs::write(path, s).unwrap();
}

fn config(dir: &Path, data: &str, layers: &str, extra: &str) -> std::path::PathBuf {
    let p = dir.join("small.toml");
    let text = format!(
        "seed = 1\n{extra}\n[data]\npath = \"{data}\"\nvalidation_split = 0.2\n{layers}\n\
         [optimizer]\ntype = \"adam\"\nlr = 0.02\n\n[training]\nloss = \"sparse_categorical_crossentropy\"\n\
         metrics = [\"accuracy\"]\nepochs = 15\nbatch_size = 10\n\n[output]\nonnx = \"{o}\"\nweights = \"{w}\"\nplot = \"{p}\"\n",
        o = dir.join("m.onnx").display(),
        w = dir.join("m.safetensors").display(),
        p = dir.join("m.png").display(),
    );
    std::fs::write(&p, text).unwrap();
    p
}

const MLP: &str = "[[layers]]\ntype = \"dense\"\nunits = 16\nactivation = \"relu\"\n\n\
                   [[layers]]\ntype = \"dense\"\nunits = 3\nactivation = \"softmax\"\n";

fn json_number(line: &str, key: &str) -> f64 {
    let at = line.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key} in {line}")) + key.len() + 3;
    line[at..].split([',', '}']).next().unwrap().parse().unwrap()
}

#[test]
fn trains_a_csv_problem_and_prints_json_last() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    write_csv(&csv, None);
    let cfg = config(dir.path(), &csv.display().to_string(), MLP, "");
    let out = zenrt(&["train", cfg.to_str().unwrap(), "--json", "-q"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with('{') && last.ends_with('}'), "{last}");
    assert!(json_number(last, "val_accuracy") >= 0.9, "{last}");
    assert!(json_number(last, "val_loss").is_finite());
    assert_eq!(json_number(last, "epochs"), 15.0);
    assert!(json_number(last, "seconds") > 0.0);
    assert!(last.contains(&format!("\"onnx\":\"{}\"", dir.path().join("m.onnx").display())), "{last}");
    for f in ["m.onnx", "m.safetensors", "m.png"] {
        assert!(dir.path().join(f).exists(), "{f} not written");
    }
    let png = std::fs::read(dir.path().join("m.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // The written model runs in zenrt.
    let run = zenrt(&["inspect", dir.path().join("m.onnx").to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
}

fn fails_with(cfg: &Path, want: &[&str]) -> String {
    let out = zenrt(&["train", cfg.to_str().unwrap(), "-q"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "should fail: {err}");
    for w in want {
        assert!(err.contains(w), "expected '{w}' in: {err}");
    }
    assert!(!err.contains("internal error"), "{err}");
    err
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("nope.npz");
    fails_with(&config(d, &missing.display().to_string(), MLP, ""), &["nope.npz"]);
    let garbage = d.join("bad.npz");
    std::fs::write(&garbage, b"this is not a zip file").unwrap();
    fails_with(&config(d, &garbage.display().to_string(), MLP, ""), &["bad.npz"]);

    let csv = d.join("d.csv");
    write_csv(&csv, None);
    let conv = "[[layers]]\ntype = \"conv2d\"\nfilters = 4\nkernel_size = 3\n";
    fails_with(&config(d, &csv.display().to_string(), conv, ""), &["[[layers]] #1", "conv2d", "rank 3"]);
    let unknown = "[[layers]]\ntype = \"dense\"\nunitz = 3\n";
    fails_with(&config(d, &csv.display().to_string(), unknown, ""), &["unitz"]);
    // Four classes of labels for a three-way softmax.
    let too_few = MLP.replace("units = 3", "units = 2");
    fails_with(&config(d, &csv.display().to_string(), &too_few, ""), &["label", "outside the 2 classes"]);
}

#[test]
fn nan_loss_stops_with_epoch_and_step_and_saves_the_last_good_weights() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    write_csv(&csv, Some(55)); // row 55: batch 6 of epoch 1 (no shuffling, batch 10)
    let cfg = config(dir.path(), &csv.display().to_string(), MLP, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("batch_size = 10", "batch_size = 10\nshuffle = false");
    std::fs::write(&cfg, text).unwrap();
    fails_with(&cfg, &["epoch 1/15, step 6/12", "NaN", "last good weights were saved", "m.onnx"]);
    assert!(dir.path().join("m.onnx").exists() && dir.path().join("m.safetensors").exists());
}
