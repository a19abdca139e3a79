//! Sequential API: shape checks, forward vs a float64 reference, export round trips (zenrt and
//! ONNX Runtime), weights, training and the bad-input paths.

use std::process::Command;
use zenrt_core::Tensor;
use zenrt_train::layers::Activation::{Relu, Softmax};
use zenrt_train::loss::Loss;
use zenrt_train::optim::{Adam, Sgd};
use zenrt_train::*;

fn randn(shape: Vec<usize>, seed: u64) -> Tensor {
    let mut r = zenrt_train::rng::Rng::new(seed);
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| r.uniform_in(-1.0, 1.0) as f32).collect::<Vec<_>>()).unwrap()
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec()
}

#[test]
fn layers_are_checked_against_the_previous_output() {
    let mut m = Sequential::new(&[1, 8, 8]);
    m.add(Conv2D::new(4, 3)).unwrap();
    assert_eq!(m.output_shape(), &[4, 6, 6]);
    m.add(MaxPooling2D::new(2)).unwrap();
    assert_eq!(m.output_shape(), &[4, 3, 3]);
    let e = m.add(Conv2D::new(2, 5)).unwrap_err().to_string();
    assert!(e.contains("conv2d_1") && e.contains("larger than"), "{e}");
    m.add(Flatten::new()).unwrap();
    assert_eq!(m.output_shape(), &[36]);
    let e = m.add(MaxPooling2D::new(2)).unwrap_err().to_string();
    assert!(e.contains("rank 3") && e.contains("[36]"), "{e}");
    let e = m.add(Lstm::new(3)).unwrap_err().to_string();
    assert!(e.contains("time × features"), "{e}");
    assert!(m.add(Embedding::new(10, 4)).unwrap_err().to_string().contains("must come first"));
    assert!(m.add(Dropout::new(1.5)).is_err());
    m.add(Dense::new(10).activation(Softmax)).unwrap();
    // Failed adds left the model unchanged.
    assert_eq!(m.layers().count(), 4);
    assert_eq!(m.network().params.len(), 4);
    let same =
        Sequential::new(&[1, 8, 8]).add(Conv2D::new(4, 3).padding(Padding::Same)).unwrap().output_shape().to_vec();
    assert_eq!(same, vec![4, 8, 8]);
}

/// An MLP's predictions against the same arithmetic in float64.
#[test]
fn dense_forward_matches_a_float64_reference() {
    let mut m = Sequential::with_seed(&[5], 3);
    m.add(Dense::new(7).activation(Relu)).unwrap();
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    let x = randn(vec![4, 5], 9);
    let y = m.predict(&x, 3).unwrap();
    let p = |n: &str| f64s(&m.network().param(n).unwrap().value);
    let (w1, b1, w2, b2) = (p("dense.kernel"), p("dense.bias"), p("dense_1.kernel"), p("dense_1.bias"));
    let xs = f64s(&x);
    for r in 0..4 {
        let h: Vec<f64> =
            (0..7).map(|j| (b1[j] + (0..5).map(|i| xs[r * 5 + i] * w1[i * 7 + j]).sum::<f64>()).max(0.0)).collect();
        let z: Vec<f64> = (0..3).map(|k| b2[k] + (0..7).map(|j| h[j] * w2[j * 3 + k]).sum::<f64>()).collect();
        let mx = z.iter().cloned().fold(f64::MIN, f64::max);
        let s: f64 = z.iter().map(|v| (v - mx).exp()).sum();
        for (k, zk) in z.iter().enumerate() {
            let want = (zk - mx).exp() / s;
            let got = y.as_slice::<f32>().unwrap()[r * 3 + k] as f64;
            assert!((got - want).abs() < 1e-5, "row {r} class {k}: {got} vs {want}");
        }
    }
}

fn cnn() -> Sequential {
    let mut m = Sequential::with_seed(&[2, 9, 9], 1);
    m.add(Conv2D::new(4, 3).activation(Relu).padding(Padding::Same)).unwrap();
    m.add(BatchNormalization::new()).unwrap();
    m.add(MaxPooling2D::new(2)).unwrap();
    m.add(AveragePooling2D::new((2, 1))).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dropout::new(0.3)).unwrap();
    m.add(Dense::new(6).activation(Activation::Tanh)).unwrap();
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    m
}

fn rnn(lstm: bool) -> Sequential {
    let mut m = Sequential::with_seed(&[5], 2);
    m.add(Embedding::new(11, 4)).unwrap();
    if lstm {
        m.add(Lstm::new(6).return_sequences(true)).unwrap();
        m.add(Gru::new(5)).unwrap();
    } else {
        m.add(Gru::new(5).return_sequences(true)).unwrap();
        m.add(Lstm::new(6)).unwrap();
    }
    m.add(Dense::new(2).activation(Activation::Sigmoid)).unwrap();
    m
}

fn indices(n: usize, t: usize, seed: u64) -> Tensor {
    let mut r = zenrt_train::rng::Rng::new(seed);
    Tensor::from_vec(vec![n, t], (0..n * t).map(|_| r.below(11) as i64).collect::<Vec<_>>()).unwrap()
}

fn python_ort() -> bool {
    Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs `model.onnx` on `x` in ONNX Runtime; returns output 0.
fn run_ort(dir: &std::path::Path, model: &std::path::Path, x: &Tensor) -> Tensor {
    let xin = dir.join("x.npy");
    let yout = dir.join("y.npy");
    zenrt::npy::write_npy(&xin, x).unwrap();
    let script = "import sys, numpy as np, onnxruntime as ort\n\
        s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n\
        x = np.load(sys.argv[2])\n\
        np.save(sys.argv[3], s.run(None, {s.get_inputs()[0].name: x})[0])\n";
    let out = Command::new("python3").args(["-c", script]).arg(model).arg(&xin).arg(&yout).output().unwrap();
    assert!(out.status.success(), "onnxruntime failed: {}", String::from_utf8_lossy(&out.stderr));
    zenrt::npy::read_npy(&yout).unwrap()
}

fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}");
    let worst = f64s(a).iter().zip(f64s(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst <= tol, "{what}: max |diff| {worst} > {tol}");
}

/// export → zenrt Session and ONNX Runtime → both match predict() within 1e-5.
#[test]
fn export_round_trip_matches_predict_in_zenrt_and_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Sequential, Tensor)> = vec![
        ("cnn", cnn(), randn(vec![5, 2, 9, 9], 4)),
        ("lstm", rnn(true), indices(3, 5, 5)),
        ("gru", rnn(false), indices(3, 5, 6)),
    ];
    let ort = python_ort();
    if !ort {
        eprintln!("SKIP (ONNX Runtime half): python3 with onnxruntime and numpy not found");
    }
    for (name, mut m, x) in cases {
        // Move batch-norm statistics off their defaults so the exported BatchNormalization matters.
        if name == "cnn" {
            let vals: Vec<(String, Tensor)> = m
                .network()
                .params
                .iter()
                .filter(|p| p.name.starts_with("batch_normalization."))
                .map(|p| {
                    let v =
                        f64s(&p.value).iter().enumerate().map(|(i, &v)| (v + 0.3 * i as f64 + 0.1) as f32).collect();
                    (p.name.clone(), Tensor::from_vec(p.value.shape().to_vec(), v).unwrap())
                })
                .collect();
            m.network_mut().set_params(vals).unwrap();
        }
        let want = m.predict(&x, 2).unwrap();
        let path = dir.path().join(format!("{name}.onnx"));
        m.export_onnx(&path).unwrap();
        let s = zenrt::Session::from_file(&path).unwrap();
        assert_eq!(s.inputs().len(), 1, "{name}: parameters must be initializers, not inputs");
        assert_eq!(s.inputs()[0].shape.as_ref().unwrap()[0], zenrt::Dim::Sym("batch".into()));
        let got = s.run(vec![(s.inputs()[0].name.clone(), x.clone())]).unwrap();
        assert_close(got.tensor(0).unwrap(), &want, 1e-5, &format!("{name}: zenrt session"));
        if ort {
            assert_close(&run_ort(dir.path(), &path, &x), &want, 1e-5, &format!("{name}: onnxruntime"));
        }
    }
}

#[test]
fn weights_round_trip_and_mismatches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    let a = cnn();
    a.save_weights(&p).unwrap();
    let mut b = Sequential::with_seed(&[2, 9, 9], 99);
    for (_, l, _) in a.layers() {
        b.add(l.clone()).unwrap();
    }
    assert_ne!(a.network().params, b.network().params);
    b.load_weights(&p).unwrap();
    assert_eq!(a.network().params, b.network().params);
    let mut c = Sequential::new(&[2, 9, 9]);
    c.add(Conv2D::new(5, 3)).unwrap();
    let e = c.load_weights(&p).unwrap_err().to_string();
    assert!(e.contains("'batch_normalization.beta', which the model does not have"), "{e}");
    let p2 = dir.path().join("c.safetensors");
    c.save_weights(&p2).unwrap();
    let e = b.load_weights(&p2).unwrap_err().to_string();
    assert!(e.contains("'conv2d.") && e.contains("float32[5") && e.contains("needs float32[4"), "{e}");
    assert_eq!(a.network().params, b.network().params, "a refused file changes nothing");
    std::fs::write(&p, b"not safetensors").unwrap();
    assert!(c.load_weights(&p).unwrap_err().to_string().contains("safetensors"));
}

/// Two Gaussian blobs per class in 4-D: a small MLP with dropout and batch norm learns them.
fn blobs(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut r = zenrt_train::rng::Rng::new(seed);
    let (mut x, mut y) = (vec![], vec![]);
    for i in 0..n {
        let c = i % 3;
        for d in 0..4 {
            let centre = if d == c { 2.0 } else { 0.0 };
            x.push((centre + r.uniform_in(-1.0, 1.0) + 0.5) as f32);
        }
        y.push(c as i64);
    }
    (Tensor::from_vec(vec![n, 4], x).unwrap(), Tensor::from_vec(vec![n], y).unwrap())
}

fn mlp() -> Sequential {
    let mut m = Sequential::with_seed(&[4], 5);
    m.add(Dense::new(16).activation(Relu)).unwrap();
    m.add(BatchNormalization::new()).unwrap();
    m.add(Dropout::new(0.2)).unwrap();
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    m
}

#[test]
fn fit_learns_and_is_reproducible() {
    let (x, y) = blobs(300, 1);
    let opts =
        FitOptions { epochs: 8, batch_size: 16, validation_split: 0.2, verbose: false, seed: 3, ..Default::default() };
    let run = || {
        let mut m = mlp();
        m.compile(
            Adam::new(0.01, 0.9, 0.999, 1e-7),
            Loss::SparseCategoricalCrossentropy { from_logits: false },
            &["accuracy"],
        )
        .unwrap();
        let h = m.fit(&x, &y, &opts).unwrap();
        (m, h)
    };
    let (mut m, h) = run();
    let loss = h.series("loss");
    assert!(loss[loss.len() - 1] < loss[0] * 0.5, "loss {loss:?}");
    assert!(h.last("val_accuracy").unwrap() >= 0.9, "{h:?}");
    assert_eq!(h.epochs[0].steps, 15); // 240 training rows / 16
                                       // evaluate() is what fit reported for validation.
    let (vx, vy) =
        (zenrt_train::data::slice_rows(&x, 240, 300).unwrap(), zenrt_train::data::slice_rows(&y, 240, 300).unwrap());
    let ev = m.evaluate(&vx, &vy, 7).unwrap();
    assert!((ev[0].1 - h.last("val_loss").unwrap()).abs() < 1e-5, "{ev:?} vs {h:?}");
    assert!((ev[1].1 - h.last("val_accuracy").unwrap()).abs() < 1e-9, "{ev:?} vs {h:?}");
    // Moving statistics moved away from (0, 1) toward the batch statistics.
    let mm = f64s(&m.network().param("batch_normalization.moving_mean").unwrap().value);
    assert!(mm.iter().any(|v| v.abs() > 0.05), "{mm:?}");
    // Same seed, same everything.
    let (m2, h2) = run();
    assert_eq!(h, h2.clone().tap_times(&h));
    assert_eq!(m.network().params, m2.network().params);
}

trait TapTimes {
    fn tap_times(self, like: &History) -> History;
}
impl TapTimes for History {
    /// Copies wall times from `like` (they differ run to run).
    fn tap_times(mut self, like: &History) -> History {
        for (a, b) in self.epochs.iter_mut().zip(&like.epochs) {
            a.seconds = b.seconds;
            a.step_seconds = b.step_seconds;
        }
        self
    }
}

#[test]
fn bad_targets_are_refused_before_training() {
    let (x, y) = blobs(40, 2);
    let mut m = mlp();
    m.compile(Sgd::default(), Loss::SparseCategoricalCrossentropy { from_logits: false }, &["accuracy"]).unwrap();
    let before = m.network().params.clone();
    let opts = FitOptions { epochs: 1, verbose: false, ..Default::default() };
    let e = m.fit(&x, &zenrt_train::data::slice_rows(&y, 0, 30).unwrap(), &opts).unwrap_err().to_string();
    assert!(e.contains("30 targets for 40 samples"), "{e}");
    let bad = Tensor::from_vec(vec![40], (0..40).map(|i| (i % 5) as i64).collect::<Vec<_>>()).unwrap();
    let e = m.fit(&x, &bad, &opts).unwrap_err().to_string();
    assert!(e.contains("outside the 3 classes"), "{e}");
    let e = m.fit(&x, &Tensor::zeros(zenrt_core::DType::I64, vec![40, 2]).unwrap(), &opts).unwrap_err().to_string();
    assert!(e.contains("shape"), "{e}");
    assert_eq!(m.network().params, before);
    let e = m.compile(Sgd::default(), Loss::MeanSquaredError, &["accuracy"]).unwrap_err().to_string();
    assert!(e.contains("accuracy"), "{e}");
    assert!(m.compile(Sgd::default(), Loss::MeanSquaredError, &["f1"]).is_err());
}

/// A NaN in the data makes the loss NaN at a known step: the error names epoch and step, and the
/// parameters are the (finite) values from before that step.
#[test]
fn nan_loss_stops_with_epoch_and_step_and_keeps_weights() {
    let (x, y) = blobs(64, 3);
    let mut xv = f64s(&x).into_iter().map(|v| v as f32).collect::<Vec<_>>();
    xv[4 * 40] = f32::NAN; // row 40: the 6th batch of 8 without shuffling, in epoch 2 (rows 0..48 train)
    let x = Tensor::from_vec(vec![64, 4], xv).unwrap();
    let mut m = Sequential::with_seed(&[4], 1);
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    m.compile(Sgd::default(), Loss::SparseCategoricalCrossentropy { from_logits: false }, &[]).unwrap();
    let ok_opts = FitOptions { epochs: 1, batch_size: 8, shuffle: false, verbose: false, ..Default::default() };
    let x40 = zenrt_train::data::slice_rows(&x, 0, 40).unwrap();
    let y40 = zenrt_train::data::slice_rows(&y, 0, 40).unwrap();
    m.fit(&x40, &y40, &ok_opts).unwrap();
    let good = m.network().params.clone();
    let e = m.fit(&x, &y, &ok_opts).unwrap_err().to_string();
    assert!(e.contains("epoch 1/1, step 6/8") && e.contains("NaN"), "{e}");
    let after = &m.network().params;
    assert!(after.iter().all(|p| f64s(&p.value).iter().all(|v| v.is_finite())));
    assert_ne!(after, &good, "steps 1-5 of the second fit did update the weights");
}

/// Fine-tuning an imported ONNX model: initializers made trainable, a loss attached, fit.
#[test]
fn fine_tune_an_onnx_model() {
    let (x, y) = blobs(120, 4);
    let mut m = Sequential::with_seed(&[4], 8);
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    let bytes = m.to_onnx().unwrap();
    let mut ft = zenrt_train::finetune::from_onnx_bytes(&bytes, None).unwrap();
    assert_eq!(ft.params.iter().filter(|p| p.trainable).count(), 2);
    let before = ft.predict(&x, 50).unwrap();
    assert_close(&before, &m.predict(&x, 50).unwrap(), 1e-6, "imported predict");
    zenrt_train::finetune::compile(
        &mut ft,
        Box::new(Adam::default()),
        Loss::SparseCategoricalCrossentropy { from_logits: false },
        &["accuracy"],
    )
    .unwrap();
    let opts = FitOptions { epochs: 10, batch_size: 16, verbose: false, ..Default::default() };
    let h = ft.fit(&x, &y, &opts).unwrap();
    assert!(h.last("loss").unwrap() < h.series("loss")[0], "{h:?}");
    assert!(h.last("accuracy").unwrap() > 0.8, "{h:?}");
    // The fine-tuned model exports and runs in zenrt.
    let s = zenrt::Session::from_bytes(&ft.to_onnx().unwrap()).unwrap();
    let got = s.run(vec![(s.inputs()[0].name.clone(), x.clone())]).unwrap();
    assert_close(got.tensor(0).unwrap(), &ft.predict(&x, 64).unwrap(), 1e-5, "fine-tuned export");
}
