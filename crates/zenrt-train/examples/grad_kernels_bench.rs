//! Times the Conv gradient kernels against the forward Conv on a Keras-CNN-sized layer
//! (batch 32, 32→64 channels, 3×3, 26×26 input), and a whole MLP training step (784→128→10,
//! batch 64, sparse cross-entropy) against its forward pass; alternating, medians of repeats.
//! Run: `cargo run --release -p zenrt-train --example grad_kernels_bench`

use std::time::Instant;
use zenrt_core::{Attr, Attrs, BuildCtx, ExecCtx, Graph, Registry, Result, Tensor, Value};

struct NoCtx;
impl ExecCtx for NoCtx {
    fn run_subgraph_values(&self, _: &std::sync::Arc<Graph>, _: Vec<Value>) -> Result<Vec<Value>> {
        unreachable!()
    }
}

fn op(domain: &str, name: &str, attrs: &Attrs, n_in: usize) -> std::sync::Arc<dyn zenrt_core::Op> {
    let def = Registry::builtin().lookup(domain, name, 18).expect("registered");
    let cx = BuildCtx { node_name: name, op_type: name, attrs, opset: 18, n_inputs: n_in, n_outputs: 1 };
    (def.build)(&cx).expect("build")
}

fn rand(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

fn main() {
    let mut attrs = Attrs::new();
    attrs.insert("pads".into(), Attr::Ints(vec![1, 1, 1, 1]));
    let x = rand(&[32, 32, 26, 26], 1);
    let w = rand(&[64, 32, 3, 3], 2);
    let dy = rand(&[32, 64, 26, 26], 3);
    let conv = op("", "Conv", &attrs, 2);
    let gi = op("com.zenrt", "ConvGradInput", &attrs, 3);
    let gw = op("com.zenrt", "ConvGradWeight", &attrs, 3);
    let mut t = [vec![], vec![], vec![]];
    for _ in 0..5 {
        let s = Instant::now();
        conv.run(&NoCtx, &[Some(&x), Some(&w)]).unwrap();
        t[0].push(s.elapsed().as_secs_f64());
        let s = Instant::now();
        gi.run(&NoCtx, &[Some(&dy), Some(&w), Some(&x)]).unwrap();
        t[1].push(s.elapsed().as_secs_f64());
        let s = Instant::now();
        gw.run(&NoCtx, &[Some(&dy), Some(&x), Some(&w)]).unwrap();
        t[2].push(s.elapsed().as_secs_f64());
    }
    for (name, v) in ["Conv (forward)", "ConvGradInput", "ConvGradWeight"].iter().zip(t.iter_mut()) {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{name:16} median {:.1} ms", v[v.len() / 2] * 1e3);
    }
    mlp();
}

fn mlp() {
    use std::collections::HashSet;
    use zenrt_core::{DType, Dim, Plan, ReferenceBackend, ValueInfo};
    use zenrt_train::autodiff::builder::Builder;
    use zenrt_train::loss::Loss;
    use zenrt_train::step::TrainStep;
    let mut g = Graph::default();
    let decl =
        |n: &str, s: &[usize]| ValueInfo::new(n, Some(DType::F32), Some(s.iter().map(|&d| Dim::Known(d)).collect()));
    g.inputs = vec![
        decl("x", &[64, 784]),
        decl("w1", &[784, 128]),
        decl("b1", &[128]),
        decl("w2", &[128, 10]),
        decl("b2", &[10]),
    ];
    let logits = {
        let mut b = Builder::new(&mut g, "mlp");
        let h = b.node("Gemm", &["x", "w1", "b1"], vec![]).unwrap();
        let h = b.node("Relu", &[&h], vec![]).unwrap();
        b.node("Gemm", &[&h, "w2", "b2"], vec![]).unwrap()
    };
    g.outputs = vec![ValueInfo::new(logits.clone(), None, None)];
    let names: Vec<String> = ["w1", "b1", "w2", "b2"].iter().map(|s| s.to_string()).collect();
    let step =
        TrainStep::new(&g, Loss::SparseCategoricalCrossentropy { from_logits: true }, &logits, "y", &names).unwrap();
    let fwd = Plan::compile(std::sync::Arc::new(g), &ReferenceBackend, &HashSet::new()).unwrap();
    let params = vec![rand(&[784, 128], 4), rand(&[128], 5), rand(&[128, 10], 6), rand(&[10], 7)];
    let x = rand(&[64, 784], 8);
    let y = Tensor::from_vec(vec![64], (0..64).map(|i| (i % 10) as i64).collect::<Vec<_>>()).unwrap();
    let mut feeds_f = vec![("x".to_string(), x.clone())];
    feeds_f.extend(names.iter().cloned().zip(params.iter().cloned()));
    let (mut tf, mut ts) = (vec![], vec![]);
    for _ in 0..20 {
        let s = Instant::now();
        fwd.run(feeds_f.clone()).unwrap();
        tf.push(s.elapsed().as_secs_f64());
        let s = Instant::now();
        step.run(vec![("x".into(), x.clone()), ("y".into(), y.clone())], &params).unwrap();
        ts.push(s.elapsed().as_secs_f64());
    }
    tf.sort_by(|a, b| a.partial_cmp(b).unwrap());
    ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (f, s) = (tf[10], ts[10]);
    println!("MLP forward      median {:.2} ms", f * 1e3);
    println!("MLP train step   median {:.2} ms ({:.1}x forward)", s * 1e3, s / f);
}
