//! [`GraphBuilder`]: appends ordinary ONNX nodes to a [`Graph`], building each operator through the
//! registry exactly as the importer does, so a built graph runs, differentiates and exports like an
//! imported one.

use std::sync::Arc;
use zenrt_core::{Attr, Attrs, BuildCtx, DType, Dim, Error, Graph, Node, Registry, Result, Tensor, ValueInfo};

/// The opset every graph built here (and every exported model) declares.
pub const OPSET: i64 = 17;

/// Builds a graph node by node.
pub struct GraphBuilder {
    /// The graph under construction.
    pub graph: Graph,
    counter: usize,
}

impl GraphBuilder {
    /// An empty graph called `name`.
    pub fn new(name: &str) -> GraphBuilder {
        GraphBuilder { graph: Graph { name: name.to_string(), ..Default::default() }, counter: 0 }
    }

    /// A fresh value name starting with `base`.
    pub fn fresh(&mut self, base: &str) -> String {
        self.counter += 1;
        format!("{base}/{}", self.counter)
    }

    /// Declares a graph input.
    pub fn input(&mut self, name: &str, dtype: DType, shape: Vec<Dim>) {
        self.graph.inputs.push(ValueInfo::new(name, Some(dtype), Some(shape)));
    }

    /// Declares a graph output.
    pub fn output(&mut self, name: &str, dtype: DType, shape: Vec<Dim>) {
        self.graph.outputs.push(ValueInfo::new(name, Some(dtype), Some(shape)));
    }

    /// Adds a constant (an initializer) and returns its name.
    pub fn constant(&mut self, base: &str, t: Tensor) -> String {
        let name = self.fresh(base);
        self.graph.initializers.insert(name.clone(), Arc::new(t));
        name
    }

    /// An int64 vector constant (shapes, axes).
    pub fn ints(&mut self, base: &str, v: &[i64]) -> String {
        self.constant(base, Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap_or_else(|_| Tensor::scalar(0i64)))
    }

    /// Appends a node of the default domain with one output; returns the output name.
    pub fn op(&mut self, op_type: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> Result<String> {
        let out = self.fresh(&op_type.to_lowercase());
        self.node(op_type, inputs, &[out.as_str()], attrs)?;
        Ok(out)
    }

    /// Appends a node with explicit output names.
    pub fn node(&mut self, op_type: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, Attr)>) -> Result<()> {
        let attrs: Attrs = attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let name = format!("{op_type}_{}", self.graph.nodes.len());
        let def = Registry::builtin()
            .lookup("", op_type, OPSET)
            .ok_or_else(|| Error::Unsupported(format!("operator {op_type} at opset {OPSET}")))?;
        let cx = BuildCtx {
            node_name: &name,
            op_type,
            attrs: &attrs,
            opset: OPSET,
            n_inputs: inputs.len(),
            n_outputs: outputs.len(),
        };
        let op = (def.build)(&cx).map_err(|e| e.in_node(&name, op_type))?;
        self.graph.nodes.push(Node {
            name,
            op_type: op_type.to_string(),
            domain: String::new(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            attrs,
            op,
        });
        Ok(())
    }
}

/// `Attr::Ints` from usizes.
pub fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&x| x as i64).collect())
}
