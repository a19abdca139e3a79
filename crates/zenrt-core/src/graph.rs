//! The graph IR: one tier, typed values identified by name, nodes holding a built operator.

use crate::{DType, Op, Tensor};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// One dimension of a static shape: known, symbolic (`batch`), or unknown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Known(usize),
    Sym(String),
    Unknown,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// What kind of value flows on an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ValueKind {
    #[default]
    Tensor,
    /// A sequence of tensors (`dtype`/`shape` describe the elements).
    Sequence,
    /// An optional tensor or sequence.
    Optional,
    /// An optional sequence.
    OptionalSequence,
}

/// Static knowledge about a value: dtype and (possibly symbolic) shape, either may be unknown.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ValueInfo {
    pub name: String,
    pub kind: ValueKind,
    pub dtype: Option<DType>,
    /// `None` when even the rank is unknown.
    pub shape: Option<Vec<Dim>>,
}

impl ValueInfo {
    pub fn new(name: impl Into<String>, dtype: Option<DType>, shape: Option<Vec<Dim>>) -> ValueInfo {
        ValueInfo { name: name.into(), kind: ValueKind::Tensor, dtype, shape }
    }

    /// `float32[batch,3,224,224]`, `int64[?]`, `float32[*]` (unknown rank).
    pub fn type_string(&self) -> String {
        let dt = self.dtype.map(|d| d.name()).unwrap_or("?");
        match &self.shape {
            None => format!("{dt}[*]"),
            Some(s) => format!("{dt}[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")),
        }
    }

    /// The concrete shape if every dim is known.
    pub fn concrete_shape(&self) -> Option<Vec<usize>> {
        self.shape.as_ref()?.iter().map(|d| if let Dim::Known(n) = d { Some(*n) } else { None }).collect()
    }
}

/// An attribute value as found on a node.
#[derive(Clone, Debug)]
pub enum Attr {
    Float(f32),
    Int(i64),
    String(Vec<u8>),
    Tensor(Tensor),
    Graph(Arc<Graph>),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    Tensors(Vec<Tensor>),
    Graphs(Vec<Arc<Graph>>),
    /// A type attribute (only its element type is kept).
    Type(Option<DType>),
}

/// Attributes of a node by name.
pub type Attrs = HashMap<String, Attr>;

/// A node: an op type, its built operator and its named inputs and outputs.
/// An empty input or output name means "absent optional".
#[derive(Clone)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Attrs,
    pub op: Arc<dyn Op>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}({})  # {}", self.outputs.join(", "), self.op_type, self.inputs.join(", "), self.name)
    }
}

/// A computation graph: the main graph of a model or the body of an If/Loop/Scan.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub name: String,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    /// Constant tensors by name (ONNX initializers). Shared so subgraphs and sessions can hold them cheaply.
    pub initializers: HashMap<String, Arc<Tensor>>,
    /// Nodes in file order (not necessarily topological).
    pub nodes: Vec<Node>,
    /// Static type/shape knowledge about intermediate values.
    pub value_info: HashMap<String, ValueInfo>,
}

impl Graph {
    /// Graph inputs that are not also initializers (ONNX IR < 4 lists initializers as inputs).
    pub fn real_inputs(&self) -> impl Iterator<Item = &ValueInfo> {
        self.inputs.iter().filter(|i| !self.initializers.contains_key(&i.name))
    }

    /// Names this graph reads but does not define: outer-scope values (for subgraphs).
    pub fn free_values(&self) -> Vec<String> {
        let mut defined: std::collections::HashSet<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
        defined.extend(self.initializers.keys().map(|k| k.as_str()));
        for n in &self.nodes {
            defined.extend(n.outputs.iter().map(|o| o.as_str()));
        }
        let mut free = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut visit = |name: &str| {
            if !name.is_empty() && !defined.contains(name) && seen.insert(name.to_string()) {
                free.push(name.to_string());
            }
        };
        for n in &self.nodes {
            for i in &n.inputs {
                visit(i);
            }
            for a in n.attrs.values() {
                let subs: Vec<&Arc<Graph>> = match a {
                    Attr::Graph(g) => vec![g],
                    Attr::Graphs(gs) => gs.iter().collect(),
                    _ => vec![],
                };
                for g in subs {
                    for f in g.free_values() {
                        visit(&f);
                    }
                }
            }
        }
        for o in &self.outputs {
            visit(&o.name);
        }
        free
    }
}

/// A loaded model: the main graph plus metadata.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub graph: Graph,
    pub ir_version: i64,
    /// Opset version by domain ("" is the default ONNX domain).
    pub opsets: HashMap<String, i64>,
    pub producer: String,
}
