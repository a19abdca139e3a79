//! Helpers shared by the rewrite passes: who produces and who reads each value, which values are
//! constants, building new nodes through the registry, and the match-and-rewrite loop.

use crate::ops::fused::DOMAIN;
use crate::ops::Registry;
use crate::{Attr, Attrs, BuildCtx, DType, Error, Graph, Node, Result, Tensor};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Producer and readers of every value of a graph.
pub(crate) struct Index {
    producer: HashMap<String, usize>,
    readers: HashMap<String, Vec<usize>>,
    /// Graph outputs and values read by subgraphs: never fused away or renamed.
    pinned: HashSet<String>,
    /// Graph inputs (an initializer that is also an input can be overridden: not a constant).
    inputs: HashSet<String>,
}

impl Index {
    pub fn new(g: &Graph) -> Index {
        let mut producer = HashMap::new();
        let mut readers: HashMap<String, Vec<usize>> = HashMap::new();
        let mut pinned: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
        for (i, n) in g.nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                producer.insert(o.clone(), i);
            }
            for v in n.inputs.iter().filter(|v| !v.is_empty()) {
                readers.entry(v.clone()).or_default().push(i);
            }
            for sg in crate::plan::node_subgraphs(n) {
                pinned.extend(sg.free_values());
            }
        }
        Index { producer, readers, pinned, inputs: g.inputs.iter().map(|i| i.name.clone()).collect() }
    }

    /// The node producing `v`.
    pub fn producer(&self, v: &str) -> Option<usize> {
        self.producer.get(v).copied()
    }

    /// Nodes reading `v` (a node reading it twice appears twice).
    pub fn readers(&self, v: &str) -> &[usize] {
        self.readers.get(v).map(|r| r.as_slice()).unwrap_or(&[])
    }

    /// Whether `v` is a graph output or read by a subgraph.
    pub fn is_pinned(&self, v: &str) -> bool {
        self.pinned.contains(v)
    }

    /// The one node reading `v`, if `v` has exactly one reader (one input slot) and may be fused away.
    pub fn sole_reader(&self, v: &str) -> Option<usize> {
        match self.readers(v) {
            [r] if !self.is_pinned(v) => Some(*r),
            _ => None,
        }
    }

    /// Whether an initializer named `v` is a true constant (not overridable as a graph input).
    pub fn constant_ok(&self, v: &str) -> bool {
        !self.inputs.contains(v)
    }

    /// The constant value of `v`: an initializer the caller cannot override.
    pub fn constant<'g>(&self, g: &'g Graph, v: &str) -> Option<&'g Tensor> {
        if self.inputs.contains(v) {
            return None;
        }
        g.initializers.get(v).map(|t| t.as_ref())
    }
}

/// The single value of a one-element float constant.
pub(crate) fn scalar_f64(t: &Tensor) -> Option<f64> {
    (t.len() == 1 && t.dtype().is_float()).then(|| t.to_f64_vec()[0])
}

/// A node's float attribute (absent → `default`).
pub(crate) fn attr_f32(n: &Node, name: &str, default: f32) -> Option<f32> {
    match n.attrs.get(name) {
        None => Some(default),
        Some(Attr::Float(v)) => Some(*v),
        _ => None,
    }
}

/// A node's int attribute (absent → `default`).
pub(crate) fn attr_i64(n: &Node, name: &str, default: i64) -> Option<i64> {
    match n.attrs.get(name) {
        None => Some(default),
        Some(Attr::Int(v)) => Some(*v),
        _ => None,
    }
}

/// Whether `n` is the default-domain operator `op`.
pub(crate) fn is_op(n: &Node, op: &str) -> bool {
    n.op_type == op && (n.domain.is_empty() || n.domain == "ai.onnx")
}

/// Builds a node through the built-in registry. `opset` is the opset of the node's domain
/// (1 for `com.zenrt`).
pub(crate) fn make_node(
    name: String,
    domain: &str,
    op_type: &str,
    opset: i64,
    inputs: Vec<String>,
    outputs: Vec<String>,
    attrs: Attrs,
) -> Result<Node> {
    let def = Registry::builtin()
        .lookup(domain, op_type, opset)
        .ok_or_else(|| Error::Unsupported(format!("optimizer: operator {domain}:{op_type} is not registered")))?;
    let op = {
        let cx = BuildCtx {
            node_name: &name,
            op_type,
            attrs: &attrs,
            opset,
            n_inputs: inputs.len(),
            n_outputs: outputs.len(),
        };
        (def.build)(&cx)?
    };
    Ok(Node { name, op_type: op_type.to_string(), domain: domain.to_string(), inputs, outputs, attrs, op })
}

/// Builds a `com.zenrt` node.
pub(crate) fn make_fused(
    name: String,
    op_type: &str,
    inputs: Vec<String>,
    outputs: Vec<String>,
    attrs: Attrs,
) -> Result<Node> {
    make_node(name, DOMAIN, op_type, 1, inputs, outputs, attrs)
}

/// A value name not used anywhere in `g` yet, derived from `base`.
pub(crate) fn fresh_name(g: &Graph, base: &str) -> String {
    let taken = |s: &str| {
        g.initializers.contains_key(s)
            || g.inputs.iter().any(|i| i.name == s)
            || g.nodes.iter().any(|n| n.outputs.iter().any(|o| o == s) || n.inputs.iter().any(|o| o == s))
    };
    let mut k = 0;
    loop {
        let name = format!("{base}__opt{k}");
        if !taken(&name) {
            return name;
        }
        k += 1;
    }
}

/// Adds a constant under a fresh name derived from `base`; returns the name.
pub(crate) fn add_constant(g: &mut Graph, base: &str, t: Tensor) -> String {
    let name = fresh_name(g, base);
    g.initializers.insert(name.clone(), Arc::new(t));
    name
}

/// Makes every reader of `from` read `to` instead (`from` must not be pinned).
pub(crate) fn rewire(g: &mut Graph, from: &str, to: &str) {
    for n in &mut g.nodes {
        for i in n.inputs.iter_mut() {
            if i == from {
                *i = to.to_string();
            }
        }
    }
}

/// A found rewrite: `node` replaces `g.nodes[at]` (or, when `None`, that node is deleted),
/// and the nodes in `remove` are deleted.
pub(crate) struct Rewrite {
    pub at: usize,
    pub node: Option<Node>,
    pub remove: Vec<usize>,
}

impl Rewrite {
    /// `node` replaces `g.nodes[at]`; the nodes in `remove` are deleted.
    pub fn replace(at: usize, node: Node, remove: Vec<usize>) -> Rewrite {
        Rewrite { at, node: Some(node), remove }
    }
}

/// Applies one rewrite.
pub(crate) fn apply(g: &mut Graph, rw: Rewrite) {
    let mut remove = rw.remove;
    match rw.node {
        Some(node) => {
            g.nodes[rw.at] = node;
            remove.retain(|&i| i != rw.at);
        }
        None => remove.push(rw.at),
    }
    remove.sort_unstable();
    remove.dedup();
    for i in remove.into_iter().rev() {
        g.nodes.remove(i);
    }
}

/// Repeatedly finds the first node where `find` matches and applies the rewrite it returns,
/// until none matches; returns the number of rewrites. `find` may add initializers to the graph
/// (it gets `&mut Graph`) but must leave the nodes alone.
pub(crate) fn rewrite_all(
    g: &mut Graph,
    mut find: impl FnMut(&mut Graph, &Index, usize) -> Result<Option<Rewrite>>,
) -> Result<usize> {
    let mut count = 0;
    // Every rewrite removes or replaces at least one node of the pattern; the bound only guards
    // against a rule that would keep matching its own output.
    let limit = 4 * g.nodes.len() + 16;
    'outer: while count < limit {
        let idx = Index::new(g);
        for i in 0..g.nodes.len() {
            if let Some(rw) = find(g, &idx, i)? {
                apply(g, rw);
                count += 1;
                continue 'outer;
            }
        }
        break;
    }
    Ok(count)
}

/// Float dtypes the fusion passes handle (others are left alone). Half types are excluded: the
/// unfused graph rounds to 8/11 mantissa bits after every operator, a fused one only at the end,
/// and results would differ by more than rounding noise.
pub(crate) fn fusable_dtype(d: Option<DType>) -> bool {
    matches!(d, Some(DType::F32) | Some(DType::F64))
}

/// `(activation, activation_params)` as node attributes.
pub(crate) fn activation_attrs(act: crate::ops::fused::Activation, attrs: &mut Attrs) {
    if let Some((name, params)) = act.to_attrs() {
        attrs.insert("activation".into(), Attr::String(name.as_bytes().to_vec()));
        if !params.is_empty() {
            attrs.insert("activation_params".into(), Attr::Floats(params));
        }
    }
}
