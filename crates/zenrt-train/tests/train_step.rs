//! TrainStep end to end: an MLP trained with Adam on a separable synthetic problem, a small
//! CNN step whose gradients match finite differences of the same compiled step, NaN loss
//! detection, and unsupported-operator errors.

mod common;
use common::Rng;
use zenrt_core::{Attr, DType, Dim, Graph, Tensor, ValueInfo};
use zenrt_train::autodiff::builder::Builder;
use zenrt_train::loss::Loss;
use zenrt_train::metrics::sparse_accuracy;
use zenrt_train::optim::{Adam, Optimizer};
use zenrt_train::step::TrainStep;

fn input(g: &mut Graph, name: &str, dt: DType, shape: &[i64]) {
    let dims = shape.iter().map(|&d| if d < 0 { Dim::Sym("batch".into()) } else { Dim::Known(d as usize) }).collect();
    g.inputs.push(ValueInfo::new(name, Some(dt), Some(dims)));
}

fn glorot(rng: &mut Rng, shape: &[usize]) -> Tensor {
    let lim = (6.0 / (shape[0] + shape[shape.len() - 1]) as f64).sqrt();
    rng.tensor(shape, -lim, lim).cast(DType::F32).unwrap()
}

/// x[N,2] → Gemm(16) → Relu → Gemm(2) logits.
fn mlp() -> (Graph, String) {
    let mut g = Graph::default();
    input(&mut g, "x", DType::F32, &[-1, 2]);
    input(&mut g, "w1", DType::F32, &[2, 16]);
    input(&mut g, "b1", DType::F32, &[16]);
    input(&mut g, "w2", DType::F32, &[16, 2]);
    input(&mut g, "b2", DType::F32, &[2]);
    let logits = {
        let mut b = Builder::new(&mut g, "mlp");
        let h = b.node("Gemm", &["x", "w1", "b1"], vec![]).unwrap();
        let h = b.node("Relu", &[&h], vec![]).unwrap();
        b.node("Gemm", &[&h, "w2", "b2"], vec![]).unwrap()
    };
    g.outputs = vec![ValueInfo::new(logits.clone(), Some(DType::F32), None)];
    (g, logits)
}

#[test]
fn mlp_learns_a_separable_problem_with_adam() {
    let mut rng = Rng(42);
    let n = 64;
    let mut xs = vec![];
    let mut ys = vec![];
    while ys.len() < n {
        let (a, b) = (rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0));
        let s = a + 0.5 * b;
        if s.abs() < 0.15 {
            continue;
        }
        xs.extend([a as f32, b as f32]);
        ys.push((s > 0.0) as i64);
    }
    let x = Tensor::from_vec(vec![n, 2], xs).unwrap();
    let y = Tensor::from_vec(vec![n], ys).unwrap();
    let (g, logits) = mlp();
    let names: Vec<String> = ["w1", "b1", "w2", "b2"].iter().map(|s| s.to_string()).collect();
    let loss = Loss::SparseCategoricalCrossentropy { from_logits: true };
    let step = TrainStep::new(&g, loss, &logits, "y", &names).unwrap();
    let mut params = vec![
        glorot(&mut rng, &[2, 16]),
        Tensor::zeros(DType::F32, vec![16]).unwrap(),
        glorot(&mut rng, &[16, 2]),
        Tensor::zeros(DType::F32, vec![2]).unwrap(),
    ];
    loss.check_targets(&[n, 2], &y).unwrap();
    let mut opt = Adam::new(0.05, 0.9, 0.999, 1e-7);
    let mut first = None;
    let mut last = (0.0, 0.0);
    for _ in 0..150 {
        let (l, grads, pred) = step.run(vec![("x".into(), x.clone()), ("y".into(), y.clone())], &params).unwrap();
        first.get_or_insert(l);
        last = (l, sparse_accuracy(&pred, &y).unwrap());
        opt.step(&mut params, &grads).unwrap();
    }
    let first = first.unwrap();
    assert!(first > 0.4, "initial loss {first} suspiciously low");
    assert!(last.0 < 0.05, "loss after 150 Adam steps: {} (from {first})", last.0);
    assert_eq!(last.1, 1.0, "training accuracy");
    assert_eq!(step.steps_run(), 150);
}

#[test]
fn cnn_step_gradients_match_finite_differences_of_the_loss() {
    // Conv → Relu → MaxPool → Flatten → Gemm, softmax cross-entropy, in f32 with a coarse check
    // (f32 finite differences, h = 1e-2) over every parameter element.
    let mut g = Graph::default();
    input(&mut g, "x", DType::F32, &[-1, 1, 6, 6]);
    input(&mut g, "k", DType::F32, &[2, 1, 3, 3]);
    input(&mut g, "kb", DType::F32, &[2]);
    input(&mut g, "w", DType::F32, &[8, 3]);
    let logits = {
        let mut b = Builder::new(&mut g, "cnn");
        let c = b.node("Conv", &["x", "k", "kb"], vec![("pads", Attr::Ints(vec![1, 1, 1, 1]))]).unwrap();
        let r = b.node("Tanh", &[&c], vec![]).unwrap();
        let p = b
            .node_n(
                "",
                "MaxPool",
                &[&r],
                vec![("kernel_shape", Attr::Ints(vec![3, 3])), ("strides", Attr::Ints(vec![3, 3]))],
                1,
            )
            .unwrap()
            .remove(0);
        let f = b.node("Flatten", &[&p], vec![]).unwrap();
        b.node("Gemm", &[&f, "w"], vec![]).unwrap()
    };
    let names: Vec<String> = ["k", "kb", "w"].iter().map(|s| s.to_string()).collect();
    let step =
        TrainStep::new(&g, Loss::SparseCategoricalCrossentropy { from_logits: true }, &logits, "y", &names).unwrap();
    let mut rng = Rng(5);
    let x = rng.tensor(&[2, 1, 6, 6], -1.0, 1.0).cast(DType::F32).unwrap();
    let y = Tensor::from_vec(vec![2], vec![2i64, 0]).unwrap();
    let params = vec![glorot(&mut rng, &[2, 1, 3, 3]), glorot(&mut rng, &[2]), glorot(&mut rng, &[8, 3])];
    let feeds = || vec![("x".to_string(), x.clone()), ("y".to_string(), y.clone())];
    let (_, grads, _) = step.run(feeds(), &params).unwrap();
    let h = 1e-2f32;
    for (pi, p) in params.iter().enumerate() {
        for e in 0..p.len() {
            let at = |d: f32| {
                let mut ps = params.clone();
                ps[pi].as_mut_slice::<f32>().unwrap()[e] += d;
                step.run(feeds(), &ps).unwrap().0 as f64
            };
            let num = (at(h) - at(-h)) / (2.0 * h as f64);
            let ana = grads[pi].to_f64_vec()[e];
            assert!((ana - num).abs() < 2e-3 * (1.0 + num.abs()), "param {pi}[{e}]: {ana} vs {num}");
        }
    }
}

#[test]
fn nan_loss_is_reported_with_the_step() {
    let (g, logits) = mlp();
    let names: Vec<String> = ["w1", "b1", "w2", "b2"].iter().map(|s| s.to_string()).collect();
    let step = TrainStep::new(&g, Loss::MeanSquaredError, &logits, "t", &names).unwrap();
    let x = Tensor::from_vec(vec![1, 2], vec![1.0f32, 1.0]).unwrap();
    let t = Tensor::zeros(DType::F32, vec![1, 2]).unwrap();
    let ok = vec![
        Tensor::full(DType::F32, vec![2, 16], 0.1).unwrap(),
        Tensor::zeros(DType::F32, vec![16]).unwrap(),
        Tensor::full(DType::F32, vec![16, 2], 0.1).unwrap(),
        Tensor::zeros(DType::F32, vec![2]).unwrap(),
    ];
    let feeds = || vec![("x".to_string(), x.clone()), ("t".to_string(), t.clone())];
    assert!(step.run(feeds(), &ok).is_ok());
    let mut bad = ok.clone();
    bad[3] = Tensor::from_vec(vec![2], vec![f32::NAN, 0.0]).unwrap();
    let err = step.run(feeds(), &bad).unwrap_err().to_string();
    assert!(err.contains("loss is NaN at step 2"), "{err}");
    let mut inf = ok;
    inf[0] = Tensor::full(DType::F32, vec![2, 16], 1e30).unwrap();
    let err = step.run(feeds(), &inf).unwrap_err().to_string();
    assert!(err.contains("at step 3") && err.contains("inf"), "{err}");
}

#[test]
fn unsupported_op_and_bad_params_are_typed_errors() {
    let mut g = Graph::default();
    input(&mut g, "x", DType::F32, &[2, 3]);
    input(&mut g, "w", DType::F32, &[3]);
    let y = {
        let mut b = Builder::new(&mut g, "m");
        let m = b.mul("x", "w").unwrap();
        let ax = b.ints(&[1]).unwrap();
        let c = b.node("CumSum", &[&m, &ax], vec![]).unwrap();
        b.node("ReduceSum", &[&c], vec![("keepdims", Attr::Int(0))]).unwrap()
    };
    let err = zenrt_train::autodiff::backward(&g, &y, &["w".to_string()]).unwrap_err();
    let s = err.to_string();
    assert!(s.contains("CumSum") && s.contains("m/CumSum"), "{s}");
    assert!(matches!(err, zenrt_core::Error::Unsupported(_)));
    let mut g2 = g.clone();
    g2.initializers.insert("c".into(), std::sync::Arc::new(Tensor::scalar(1f32)));
    let err = zenrt_train::autodiff::backward(&g2, &y, &["c".to_string()]).unwrap_err().to_string();
    assert!(err.contains("initializer"), "{err}");
    assert!(zenrt_train::autodiff::backward(&g, "nope", &["w".to_string()]).is_err());
    // Dropout in training mode (random mask) is refused; in inference mode it is the identity.
    for (mode, ok) in [(true, false), (false, true)] {
        let mut g3 = Graph::default();
        input(&mut g3, "w", DType::F32, &[3]);
        let y = {
            let mut b = Builder::new(&mut g3, "d");
            let r = b.scalar(0.5, DType::F32).unwrap();
            let m = b.constant(Tensor::scalar(mode));
            let d = b.node_n("", "Dropout", &["w", &r, &m], vec![], 1).unwrap().remove(0);
            b.node("ReduceSum", &[&d], vec![("keepdims", Attr::Int(0))]).unwrap()
        };
        let r = zenrt_train::autodiff::backward(&g3, &y, &["w".to_string()]);
        assert_eq!(r.is_ok(), ok, "training_mode={mode}: {:?}", r.err());
    }
}

#[test]
fn extra_forward_outputs_come_from_the_same_run() {
    // Batch statistics (mean over the batch of the hidden layer) returned next to the gradients.
    let mut g = Graph::default();
    input(&mut g, "x", DType::F32, &[-1, 2]);
    input(&mut g, "w", DType::F32, &[2, 3]);
    let (mean, y) = {
        let mut b = Builder::new(&mut g, "m");
        let h = b.node("MatMul", &["x", "w"], vec![]).unwrap();
        let mean = b.reduce_mean(&h, &[0], false).unwrap();
        let y = b.node("Tanh", &[&h], vec![]).unwrap();
        (mean, y)
    };
    let step = TrainStep::with_outputs(&g, Loss::MeanSquaredError, &y, "t", &["w".to_string()], &[mean]).unwrap();
    let x = Tensor::from_vec(vec![2, 2], vec![1.0f32, 2.0, -1.0, 0.5]).unwrap();
    let w = Tensor::from_vec(vec![2, 3], vec![0.1f32, 0.2, 0.3, -0.4, 0.5, 0.6]).unwrap();
    let t = Tensor::zeros(DType::F32, vec![2, 3]).unwrap();
    let (_, grads, pred, extra) =
        step.run_with_outputs(vec![("x".into(), x), ("t".into(), t)], std::slice::from_ref(&w)).unwrap();
    assert_eq!(grads[0].shape(), &[2, 3]);
    assert_eq!(pred.shape(), &[2, 3]);
    // mean_j = (x0·w[:, j] + x1·w[:, j]) / 2
    let want = [
        (0.1 * 1.0 - 0.4 * 2.0 - 0.1 - 0.4 * 0.5) / 2.0,
        (0.2 + 1.0 - 0.2 + 0.25) / 2.0,
        (0.3 + 1.2 - 0.3 + 0.3) / 2.0,
    ];
    let got = extra[0].to_f64_vec();
    for j in 0..3 {
        assert!((got[j] - want[j]).abs() < 1e-6, "{got:?} vs {want:?}");
    }
}
