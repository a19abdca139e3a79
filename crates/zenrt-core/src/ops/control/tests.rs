//! Control-flow tests with a mock executor that runs a Rust closure in place of the body graph.

use crate::ops::{BuildCtx, ExecCtx};
use crate::{Attr, Attrs, Graph, Result, Tensor, Value, ValueInfo};
use std::sync::Arc;

type Body = Box<dyn Fn(Vec<Tensor>) -> Result<Vec<Tensor>>>;
struct Mock(Body);
impl ExecCtx for Mock {
    fn run_subgraph_values(&self, _: &Arc<Graph>, inputs: Vec<Value>) -> Result<Vec<Value>> {
        let ts = inputs.into_iter().map(Value::into_tensor).collect::<Result<Vec<_>>>()?;
        Ok((self.0)(ts)?.into_iter().map(Value::from).collect())
    }
}

fn graph(n_in: usize, n_out: usize) -> Arc<Graph> {
    let vi = |p: &str, i: usize| {
        ValueInfo::new(format!("{p}{i}"), Some(crate::DType::F32), Some(vec![crate::Dim::Known(2)]))
    };
    Arc::new(Graph {
        inputs: (0..n_in).map(|i| vi("i", i)).collect(),
        outputs: (0..n_out).map(|i| vi("o", i)).collect(),
        ..Default::default()
    })
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.as_slice::<f32>().unwrap().to_vec()
}

fn add(a: &Tensor, b: &Tensor) -> Tensor {
    let v: Vec<f32> = f32s(a).iter().zip(f32s(b)).map(|(x, y)| x + y).collect();
    Tensor::from_vec(a.shape().to_vec(), v).unwrap()
}

#[test]
fn scan9_axes_and_directions() {
    // state s (2), scan input x [2, 3] scanned along axis 1 in reverse; output stacked on axis 1, reversed.
    let mut attrs = Attrs::new();
    attrs.insert("body".into(), Attr::Graph(graph(2, 2)));
    attrs.insert("num_scan_inputs".into(), Attr::Int(1));
    attrs.insert("scan_input_axes".into(), Attr::Ints(vec![-1]));
    attrs.insert("scan_input_directions".into(), Attr::Ints(vec![1]));
    attrs.insert("scan_output_axes".into(), Attr::Ints(vec![1]));
    attrs.insert("scan_output_directions".into(), Attr::Ints(vec![1]));
    let cx = BuildCtx { node_name: "s", op_type: "Scan", attrs: &attrs, opset: 11, n_inputs: 2, n_outputs: 2 };
    let op = super::scan::build(&cx).unwrap();
    let ctx = Mock(Box::new(|v: Vec<Tensor>| {
        let s = add(&v[0], &v[1]);
        Ok(vec![s.clone(), s])
    }));
    let s0 = Tensor::from_vec(vec![2], vec![0f32, 0.]).unwrap();
    let x = Tensor::from_vec(vec![2, 3], vec![1f32, 2., 3., 10., 20., 30.]).unwrap();
    let out = op.run(&ctx, &[Some(&s0), Some(&x)]).unwrap();
    assert_eq!(f32s(&out[0]), vec![6., 60.]);
    // iterations see columns 2, 1, 0: partial sums (3,30), (5,50), (6,60); reversed then stacked on axis 1
    assert_eq!(out[1].shape(), [2, 3]);
    assert_eq!(f32s(&out[1]), vec![6., 5., 3., 60., 50., 30.]);
}

#[test]
fn scan8_sequence_lens_pads_with_zeros() {
    let mut attrs = Attrs::new();
    attrs.insert("body".into(), Attr::Graph(graph(2, 2)));
    attrs.insert("num_scan_inputs".into(), Attr::Int(1));
    attrs.insert("directions".into(), Attr::Ints(vec![1]));
    let cx = BuildCtx { node_name: "s", op_type: "Scan", attrs: &attrs, opset: 8, n_inputs: 3, n_outputs: 2 };
    let op = super::scan::build(&cx).unwrap();
    let ctx = Mock(Box::new(|v: Vec<Tensor>| {
        let s = add(&v[0], &v[1]);
        Ok(vec![s.clone(), s])
    }));
    let lens = Tensor::from_vec(vec![2], vec![3i64, 1]).unwrap();
    let s0 = Tensor::from_vec(vec![2, 1], vec![0f32, 100.]).unwrap();
    let x = Tensor::from_vec(vec![2, 3, 1], vec![1f32, 2., 3., 4., 5., 6.]).unwrap();
    let out = op.run(&ctx, &[Some(&lens), Some(&s0), Some(&x)]).unwrap();
    assert_eq!(f32s(&out[0]), vec![6., 104.]);
    assert_eq!(out[1].shape(), [2, 3, 1]);
    // batch 0 reversed: 3, 5, 6; batch 1 (length 1): 104 then zero padding
    assert_eq!(f32s(&out[1]), vec![3., 5., 6., 104., 0., 0.]);
}

#[test]
fn loop_trip_count_cond_and_scan_outputs() {
    let mut attrs = Attrs::new();
    attrs.insert("body".into(), Attr::Graph(graph(3, 3)));
    let cx = BuildCtx { node_name: "l", op_type: "Loop", attrs: &attrs, opset: 13, n_inputs: 3, n_outputs: 2 };
    let op = super::loop_op::build(&cx).unwrap();
    // carried grows by one element per iteration; stop when the iteration number reaches 3
    let ctx = Mock(Box::new(|v: Vec<Tensor>| {
        let i = v[0].as_slice::<i64>().unwrap()[0];
        let mut c = f32s(&v[2]);
        c.push(i as f32);
        let n = c.len();
        Ok(vec![Tensor::scalar(i < 3), Tensor::from_vec(vec![n], c).unwrap(), Tensor::scalar(i as f32 * 2.0)])
    }));
    let init = Tensor::from_vec(vec![0], Vec::<f32>::new()).unwrap();
    let m = Tensor::scalar(10i64);
    let cond = Tensor::scalar(true);
    let out = op.run(&ctx, &[Some(&m), Some(&cond), Some(&init)]).unwrap();
    assert_eq!(f32s(&out[0]), vec![0., 1., 2., 3.]);
    assert_eq!(out[1].shape(), [4]);
    assert_eq!(f32s(&out[1]), vec![0., 2., 4., 6.]);
    // M = 2 stops first
    let m = Tensor::scalar(2i64);
    let out = op.run(&ctx, &[Some(&m), None, Some(&init)]).unwrap();
    assert_eq!(f32s(&out[0]), vec![0., 1.]);
    // zero iterations: initial value, empty scan output with the declared per-iteration shape
    let m = Tensor::scalar(0i64);
    let out = op.run(&ctx, &[Some(&m), None, Some(&init)]).unwrap();
    assert_eq!(out[0].shape(), [0]);
    assert_eq!(out[1].shape(), [0, 2]);
}
