//! Gradient rules, one table entry per operator type, grouped by family (one file each).
//!
//! A rule receives the builder, the forward node, the gradient of each node output (`None`
//! when nothing flows back into that output) and which inputs need a gradient; it appends
//! ordinary nodes and returns one optional gradient name per node input. Rules may read any
//! forward value (inputs and outputs of the node): the backward graph contains the forward one.

mod activation;
mod elementwise;
mod linalg;
mod nn;
mod reduce;
mod shape;

use super::builder::Builder;
use zenrt_core::{Attr, Node, Result};

/// A gradient rule: `(builder, node, output grads, input needs) -> input grads`.
pub type Rule = fn(&mut Builder, &Node, &[Option<String>], &[bool]) -> Result<Vec<Option<String>>>;

/// The rule for an operator, if there is one.
pub fn rule_for(domain: &str, op_type: &str) -> Option<Rule> {
    if !(domain.is_empty() || domain == "ai.onnx") {
        return None;
    }
    TABLE.iter().find(|(name, _)| *name == op_type).map(|(_, r)| *r)
}

/// Operator types that have a gradient rule (default ONNX domain).
pub fn supported_ops() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = TABLE.iter().map(|(n, _)| *n).collect();
    v.sort();
    v
}

const TABLE: &[(&str, Rule)] = &[
    ("Add", elementwise::add),
    ("Sub", elementwise::sub),
    ("Mul", elementwise::mul),
    ("Div", elementwise::div),
    ("Sum", elementwise::sum),
    ("Neg", elementwise::neg),
    ("Abs", elementwise::abs),
    ("Relu", elementwise::relu),
    ("LeakyRelu", elementwise::leaky_relu),
    ("Sigmoid", elementwise::sigmoid),
    ("Tanh", elementwise::tanh),
    ("Exp", elementwise::exp),
    ("Log", elementwise::log),
    ("Sqrt", elementwise::sqrt),
    ("Reciprocal", elementwise::reciprocal),
    ("Pow", elementwise::pow),
    ("Erf", elementwise::erf),
    ("Softplus", elementwise::softplus),
    ("Gelu", activation::gelu),
    ("Elu", activation::elu),
    ("Selu", activation::selu),
    ("HardSigmoid", activation::hard_sigmoid),
    ("Softsign", activation::softsign),
    ("Swish", activation::swish),
    ("PRelu", activation::prelu),
    ("HardSwish", activation::hard_swish),
    ("Mean", activation::mean),
    ("Max", activation::max),
    ("Min", activation::min),
    ("Identity", elementwise::identity),
    ("Dropout", elementwise::dropout),
    ("Cast", elementwise::cast),
    ("Clip", elementwise::clip),
    ("Where", elementwise::where_),
    ("MatMul", linalg::matmul),
    ("Gemm", linalg::gemm),
    ("Softmax", linalg::softmax),
    ("LogSoftmax", linalg::log_softmax),
    ("Reshape", shape::reshape_like_input),
    ("Flatten", shape::reshape_like_input),
    ("Squeeze", shape::reshape_like_input),
    ("Unsqueeze", shape::reshape_like_input),
    ("Transpose", shape::transpose),
    ("Concat", shape::concat),
    ("Split", shape::split),
    ("Slice", shape::slice),
    ("Gather", shape::gather),
    ("Expand", shape::expand),
    ("Pad", shape::pad),
    ("ReduceSum", reduce::reduce_sum),
    ("ReduceMean", reduce::reduce_mean),
    ("GlobalAveragePool", reduce::global_average_pool),
    ("ReduceMax", reduce::reduce_extreme),
    ("ReduceMin", reduce::reduce_extreme),
    ("GlobalMaxPool", reduce::global_max_pool),
    ("Conv", nn::conv),
    ("MaxPool", nn::max_pool),
    ("AveragePool", nn::average_pool),
    ("LayerNormalization", nn::layer_norm),
    ("BatchNormalization", nn::batch_norm_inference),
];

/// An int attribute of the node, or `default`.
pub(crate) fn attr_int(n: &Node, name: &str, default: i64) -> i64 {
    match n.attrs.get(name) {
        Some(Attr::Int(v)) => *v,
        _ => default,
    }
}

/// A float attribute of the node, or `default`.
pub(crate) fn attr_float(n: &Node, name: &str, default: f32) -> f32 {
    match n.attrs.get(name) {
        Some(Attr::Float(v)) => *v,
        Some(Attr::Int(v)) => *v as f32,
        _ => default,
    }
}

/// An ints attribute of the node.
pub(crate) fn attr_ints(n: &Node, name: &str) -> Option<Vec<i64>> {
    match n.attrs.get(name) {
        Some(Attr::Ints(v)) => Some(v.clone()),
        Some(Attr::Int(v)) => Some(vec![*v]),
        _ => None,
    }
}

/// Input `i` of the node (empty string when absent).
pub(crate) fn inp(n: &Node, i: usize) -> &str {
    n.inputs.get(i).map(|s| s.as_str()).unwrap_or("")
}

/// The gradient of the node's first output, or an early `Ok(vec![])` return.
macro_rules! dy0 {
    ($dys:expr) => {
        match $dys.first().and_then(|d| d.as_deref()) {
            Some(d) => d.to_string(),
            None => return Ok(vec![]),
        }
    };
}
pub(crate) use dy0;
