//! Times the Conv gradient kernels against the forward Conv on a Keras-CNN-sized layer
//! (batch 32, 32→64 channels, 3×3, 26×26 input), alternating and taking medians.
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
}
