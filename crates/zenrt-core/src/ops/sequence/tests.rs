//! Sequence/optional operator tests: values built by hand, SequenceMap with a mock executor.

use crate::ops::{BuildCtx, ExecCtx, Op};
use crate::{Attr, Attrs, Graph, Result, Tensor, Value, ValueInfo};
use std::sync::Arc;

struct NoSub;
impl ExecCtx for NoSub {
    fn run_subgraph_values(&self, _: &Arc<Graph>, _: Vec<Value>) -> Result<Vec<Value>> {
        Err(crate::Error::Invalid("no subgraphs here".into()))
    }
}

fn build(f: crate::ops::BuildFn, attrs: &Attrs, n_inputs: usize) -> Arc<dyn Op> {
    let cx = BuildCtx { node_name: "n", op_type: "T", attrs, opset: 18, n_inputs, n_outputs: 1 };
    f(&cx).unwrap()
}

fn run(op: &Arc<dyn Op>, inputs: &[Option<&Value>]) -> Result<Value> {
    Ok(op.run_values(&NoSub, inputs)?.remove(0))
}

fn t(v: &[f32]) -> Tensor {
    Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap()
}

fn tv(v: &[f32]) -> Value {
    Value::from(t(v))
}

fn i(v: i64) -> Value {
    Value::from(Tensor::scalar(v))
}

fn firsts(v: &Value) -> Vec<f32> {
    v.as_sequence().unwrap().iter().map(|t| t.as_slice::<f32>().unwrap()[0]).collect()
}

fn seq3() -> Value {
    Value::Sequence(Arc::new(vec![t(&[1.]), t(&[2.]), t(&[3.])]))
}

#[test]
fn insert_at_erase_length() {
    let a = Attrs::new();
    let s = seq3();
    let ins = build(super::sequence_insert::build, &a, 3);
    assert_eq!(firsts(&run(&ins, &[Some(&s), Some(&tv(&[9.]))]).unwrap()), [1., 2., 3., 9.]);
    assert_eq!(firsts(&run(&ins, &[Some(&s), Some(&tv(&[9.])), Some(&i(0))]).unwrap()), [9., 1., 2., 3.]);
    assert_eq!(firsts(&run(&ins, &[Some(&s), Some(&tv(&[9.])), Some(&i(-1))]).unwrap()), [1., 2., 9., 3.]);
    assert_eq!(firsts(&run(&ins, &[Some(&s), Some(&tv(&[9.])), Some(&i(3))]).unwrap()), [1., 2., 3., 9.]);
    assert!(run(&ins, &[Some(&s), Some(&tv(&[9.])), Some(&i(4))]).is_err());
    // element type must match the sequence's
    assert!(run(&ins, &[Some(&s), Some(&i(1))]).is_err());

    let at = build(super::sequence_at::build, &a, 2);
    assert_eq!(run(&at, &[Some(&s), Some(&i(-3))]).unwrap(), tv(&[1.]));
    assert!(run(&at, &[Some(&s), Some(&i(3))]).is_err());
    assert!(run(&at, &[Some(&tv(&[1.])), Some(&i(0))]).is_err());

    let er = build(super::sequence_erase::build, &a, 2);
    assert_eq!(firsts(&run(&er, &[Some(&s)]).unwrap()), [1., 2.]);
    assert_eq!(firsts(&run(&er, &[Some(&s), Some(&i(-3))]).unwrap()), [2., 3.]);
    let empty = Value::Sequence(Arc::new(vec![]));
    assert!(run(&er, &[Some(&empty)]).is_err());

    let len = build(super::sequence_length::build, &a, 1);
    assert_eq!(run(&len, &[Some(&s)]).unwrap(), i(3));
    assert_eq!(run(&len, &[Some(&empty)]).unwrap(), i(0));
}

#[test]
fn split_then_concat_round_trips() {
    let x = Value::from(Tensor::from_vec(vec![2, 3], (0..6).map(|v| v as f32).collect()).unwrap());
    let mut a = Attrs::new();
    a.insert("axis".into(), Attr::Int(1));
    a.insert("keepdims".into(), Attr::Int(0));
    let split = build(super::split_to_sequence::build, &a, 2);
    let s = run(&split, &[Some(&x)]).unwrap();
    let parts = s.as_sequence().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[1].shape(), [2]);
    assert_eq!(parts[1].as_slice::<f32>().unwrap(), [1., 4.]);
    // keepdims is ignored when split is given
    let s2 = run(&split, &[Some(&x), Some(&i(2))]).unwrap();
    let p2 = s2.as_sequence().unwrap();
    assert_eq!(p2.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>(), [vec![2, 2], vec![2, 1]]);

    // stacking the squeezed columns on a new last axis gives x back
    let mut c = Attrs::new();
    c.insert("axis".into(), Attr::Int(-1));
    c.insert("new_axis".into(), Attr::Int(1));
    let stack = build(super::concat_from_sequence::build, &c, 1);
    assert_eq!(run(&stack, &[Some(&s)]).unwrap(), x);
    c.insert("new_axis".into(), Attr::Int(0));
    c.insert("axis".into(), Attr::Int(1));
    let cat = build(super::concat_from_sequence::build, &c, 1);
    assert_eq!(run(&cat, &[Some(&s2)]).unwrap(), x);
    assert!(run(&cat, &[Some(&Value::Sequence(Arc::new(vec![])))]).is_err());
    c.insert("axis".into(), Attr::Int(2));
    let bad = build(super::concat_from_sequence::build, &c, 1);
    assert!(run(&bad, &[Some(&s2)]).is_err());
}

#[test]
fn optionals() {
    let a = Attrs::new();
    let opt = build(super::optional::build, &a, 1);
    let has = build(super::optional_has_element::build, &a, 1);
    let get = build(super::optional_get_element::build, &a, 1);
    let empty = run(&opt, &[None]).unwrap();
    assert_eq!(empty, Value::Optional(None));
    let full = run(&opt, &[Some(&seq3())]).unwrap();
    let yes = Value::from(Tensor::scalar(true));
    let no = Value::from(Tensor::scalar(false));
    assert_eq!(run(&has, &[Some(&empty)]).unwrap(), no);
    assert_eq!(run(&has, &[None]).unwrap(), no);
    assert_eq!(run(&has, &[Some(&full)]).unwrap(), yes);
    assert_eq!(run(&has, &[Some(&tv(&[1.]))]).unwrap(), yes);
    assert_eq!(run(&get, &[Some(&full)]).unwrap(), seq3());
    assert_eq!(run(&get, &[Some(&tv(&[1.]))]).unwrap(), tv(&[1.]));
    assert!(run(&get, &[Some(&empty)]).is_err());
}

/// Mock body: output 0 = sum of first elements of all inputs, output 1 = shape of input 0.
struct SumBody;
impl ExecCtx for SumBody {
    fn run_subgraph_values(&self, _: &Arc<Graph>, inputs: Vec<Value>) -> Result<Vec<Value>> {
        let mut s = 0.0;
        for v in &inputs {
            s += v.as_tensor()?.as_slice::<f32>()?[0];
        }
        let shape: Vec<i64> = inputs[0].as_tensor()?.shape().iter().map(|&d| d as i64).collect();
        Ok(vec![Value::from(Tensor::scalar(s)), Value::from(Tensor::from_vec(vec![shape.len()], shape)?)])
    }
}

#[test]
fn sequence_map_per_element_and_broadcast() {
    let vi = |n: &str| ValueInfo::new(n, None, None);
    let g = Graph { inputs: vec![vi("a"), vi("b")], outputs: vec![vi("s"), vi("shape")], ..Default::default() };
    let mut a = Attrs::new();
    a.insert("body".into(), Attr::Graph(Arc::new(g)));
    let op = build(super::sequence_map::build, &a, 2);
    let other = Value::Sequence(Arc::new(vec![t(&[10.]), t(&[20.]), t(&[30., 0.])]));
    let out = op.run_values(&SumBody, &[Some(&seq3()), Some(&other)]).unwrap();
    assert_eq!(out.len(), 2);
    let sums: Vec<f32> = out[0].as_sequence().unwrap().iter().map(|t| t.as_slice::<f32>().unwrap()[0]).collect();
    assert_eq!(sums, [11., 22., 33.]);
    // a tensor is given whole to every iteration
    let out = op.run_values(&SumBody, &[Some(&seq3()), Some(&tv(&[100., 5.]))]).unwrap();
    let sums: Vec<f32> = out[0].as_sequence().unwrap().iter().map(|t| t.as_slice::<f32>().unwrap()[0]).collect();
    assert_eq!(sums, [101., 102., 103.]);
    // sequences of different lengths are refused; so is a tensor as input #0
    let short = Value::Sequence(Arc::new(vec![t(&[1.])]));
    assert!(op.run_values(&SumBody, &[Some(&seq3()), Some(&short)]).is_err());
    assert!(op.run_values(&SumBody, &[Some(&tv(&[1.])), Some(&seq3())]).is_err());
    // an empty sequence gives empty outputs without running the body
    let e = Value::Sequence(Arc::new(vec![]));
    let out = op.run_values(&NoSub, &[Some(&e), Some(&tv(&[1.]))]).unwrap();
    assert_eq!(out, vec![Value::Sequence(Arc::new(vec![])), Value::Sequence(Arc::new(vec![]))]);
}
