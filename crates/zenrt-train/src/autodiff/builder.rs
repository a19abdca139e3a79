//! Appending ordinary nodes to a graph: fresh names, operator lookup in the builtin registry,
//! constants as initializers, and the static type knowledge of the forward graph (dtype/rank)
//! that some gradient rules need.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use zenrt_core::infer::infer_graph;
use zenrt_core::{Attr, Attrs, BuildCtx, DType, Error, Graph, Node, Registry, Result, Tensor, ValueInfo};

/// Opset of the default-domain nodes that the builder emits (axes of ReduceSum/ReduceMean/
/// Squeeze/Unsqueeze are inputs, Split takes `split` as an input).
pub const EMIT_OPSET: i64 = 18;

/// The domain of zenrt's own operators.
pub const ZENRT: &str = "com.zenrt";

/// Adds nodes to a graph with fresh names.
pub struct Builder<'g> {
    pub g: &'g mut Graph,
    prefix: String,
    next: usize,
    used: HashSet<String>,
    infos: HashMap<String, ValueInfo>,
    /// The float type assumed for constants when a value's dtype is unknown.
    pub default_dtype: DType,
}

impl<'g> Builder<'g> {
    /// A builder over `g`; names it creates start with `prefix`.
    pub fn new(g: &'g mut Graph, prefix: &str) -> Builder<'g> {
        let mut infos = infer_graph(g);
        for vi in &g.inputs {
            infos.entry(vi.name.clone()).or_insert_with(|| vi.clone());
        }
        for (name, t) in &g.initializers {
            infos.entry(name.clone()).or_insert_with(|| {
                let shape = t.shape().iter().map(|&d| zenrt_core::Dim::Known(d)).collect();
                ValueInfo::new(name.clone(), Some(t.dtype()), Some(shape))
            });
        }
        let mut used: HashSet<String> = g.inputs.iter().map(|i| i.name.clone()).collect();
        used.extend(g.initializers.keys().cloned());
        for n in &g.nodes {
            used.extend(n.outputs.iter().cloned());
            used.insert(n.name.clone());
        }
        let default_dtype = g.inputs.iter().filter_map(|i| i.dtype).find(|d| d.is_float()).unwrap_or(DType::F32);
        Builder { g, prefix: prefix.to_string(), next: 0, used, infos, default_dtype }
    }

    /// A name not used in the graph yet.
    pub fn fresh(&mut self, hint: &str) -> String {
        loop {
            let name = format!("{}/{}_{}", self.prefix, hint, self.next);
            self.next += 1;
            if self.used.insert(name.clone()) {
                return name;
            }
        }
    }

    /// Static info about a value of the graph the builder was made on.
    pub fn info(&self, name: &str) -> Option<&ValueInfo> {
        self.infos.get(name)
    }

    /// The value's dtype if known, else the builder's default float dtype.
    pub fn dtype_of(&self, name: &str) -> DType {
        self.infos.get(name).and_then(|i| i.dtype).unwrap_or(self.default_dtype)
    }

    /// The value's rank, or an error naming `what` needs it.
    pub fn rank_of(&self, name: &str, what: &str) -> Result<usize> {
        self.infos.get(name).and_then(|i| i.shape.as_ref()).map(|s| s.len()).ok_or_else(|| {
            Error::Unsupported(format!("{what}: the rank of '{name}' is not known statically (declare input shapes)"))
        })
    }

    /// True when both values have the same statically known shape (symbolic dims compare by name).
    pub fn same_shape(&self, a: &str, b: &str) -> bool {
        let (Some(sa), Some(sb)) =
            (self.infos.get(a).and_then(|i| i.shape.as_ref()), self.infos.get(b).and_then(|i| i.shape.as_ref()))
        else {
            return false;
        };
        sa == sb && sa.iter().all(|d| !matches!(d, zenrt_core::Dim::Unknown))
    }

    /// Appends a node of `domain`/`op` with `n_out` fresh outputs; returns their names.
    pub fn node_n(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        n_out: usize,
    ) -> Result<Vec<String>> {
        let attrs: Attrs = attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let name = self.fresh(op);
        let opset = if domain.is_empty() { EMIT_OPSET } else { 1 };
        let def = Registry::builtin()
            .lookup(domain, op, opset)
            .ok_or_else(|| Error::Unsupported(format!("operator {op} (domain '{domain}') is not registered")))?;
        let cx =
            BuildCtx { node_name: &name, op_type: op, attrs: &attrs, opset, n_inputs: inputs.len(), n_outputs: n_out };
        let built = (def.build)(&cx).map_err(|e| e.in_node(&name, op))?;
        let outputs: Vec<String> = (0..n_out).map(|i| format!("{name}:{i}")).collect();
        self.used.extend(outputs.iter().cloned());
        self.g.nodes.push(Node {
            name,
            op_type: op.to_string(),
            domain: domain.to_string(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.clone(),
            attrs,
            op: built,
        });
        Ok(outputs)
    }

    /// Appends a default-domain node with one output.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> Result<String> {
        Ok(self.node_n("", op, inputs, attrs, 1)?.remove(0))
    }

    /// Appends a `com.zenrt` node with one output.
    pub fn zenrt(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> Result<String> {
        Ok(self.node_n(ZENRT, op, inputs, attrs, 1)?.remove(0))
    }

    /// Adds a constant tensor (an initializer) and returns its name.
    pub fn constant(&mut self, t: Tensor) -> String {
        let name = self.fresh("const");
        self.g.initializers.insert(name.clone(), Arc::new(t));
        name
    }

    /// A scalar constant of dtype `dt`.
    pub fn scalar(&mut self, v: f64, dt: DType) -> Result<String> {
        let t = Tensor::full(dt, vec![], v)?;
        Ok(self.constant(t))
    }

    /// A scalar constant with the dtype of value `like`.
    pub fn scalar_like(&mut self, v: f64, like: &str) -> Result<String> {
        let dt = self.dtype_of(like);
        self.scalar(v, dt)
    }

    /// A 1-D int64 constant.
    pub fn ints(&mut self, v: &[i64]) -> Result<String> {
        Ok(self.constant(Tensor::from_vec(vec![v.len()], v.to_vec())?))
    }

    pub fn add(&mut self, a: &str, b: &str) -> Result<String> {
        self.node("Add", &[a, b], vec![])
    }
    pub fn sub(&mut self, a: &str, b: &str) -> Result<String> {
        self.node("Sub", &[a, b], vec![])
    }
    pub fn mul(&mut self, a: &str, b: &str) -> Result<String> {
        self.node("Mul", &[a, b], vec![])
    }
    pub fn div(&mut self, a: &str, b: &str) -> Result<String> {
        self.node("Div", &[a, b], vec![])
    }
    pub fn neg(&mut self, a: &str) -> Result<String> {
        self.node("Neg", &[a], vec![])
    }
    /// `Shape(x)`.
    pub fn shape(&mut self, x: &str) -> Result<String> {
        self.node("Shape", &[x], vec![])
    }
    /// `Reshape(x, Shape(like))`.
    pub fn reshape_like(&mut self, x: &str, like: &str) -> Result<String> {
        let s = self.shape(like)?;
        self.node("Reshape", &[x, &s], vec![])
    }
    /// `Expand(x, Shape(like))`.
    pub fn expand_like(&mut self, x: &str, like: &str) -> Result<String> {
        let s = self.shape(like)?;
        self.node("Expand", &[x, &s], vec![])
    }
    /// A tensor of `v` with the shape and dtype of `like`.
    pub fn full_like(&mut self, v: f64, like: &str) -> Result<String> {
        let s = self.shape(like)?;
        let t = Tensor::full(self.dtype_of(like), vec![1], v)?;
        self.node("ConstantOfShape", &[&s], vec![("value", Attr::Tensor(t))])
    }
    /// `ReduceSum(x, axes, keepdims)`.
    pub fn reduce_sum(&mut self, x: &str, axes: &[i64], keepdims: bool) -> Result<String> {
        let a = self.ints(axes)?;
        self.node("ReduceSum", &[x, &a], vec![("keepdims", Attr::Int(keepdims as i64))])
    }
    /// `ReduceMean(x, axes, keepdims)`.
    pub fn reduce_mean(&mut self, x: &str, axes: &[i64], keepdims: bool) -> Result<String> {
        let a = self.ints(axes)?;
        self.node("ReduceMean", &[x, &a], vec![("keepdims", Attr::Int(keepdims as i64))])
    }
    /// `x` summed down to the shape of `like` (the adjoint of broadcasting); `x` itself when the
    /// shapes are statically equal to `ref_shape_of`'s.
    pub fn sum_to(&mut self, x: &str, like: &str, out_of_node: &str) -> Result<String> {
        if self.same_shape(like, out_of_node) {
            return Ok(x.to_string());
        }
        self.zenrt("SumToShape", &[x, like], vec![])
    }
    /// `Cast(x, to)`.
    pub fn cast(&mut self, x: &str, to: DType) -> Result<String> {
        self.node("Cast", &[x], vec![("to", Attr::Int(to.onnx_code() as i64))])
    }
}
