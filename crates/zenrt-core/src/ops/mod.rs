//! Operators. Each operator lives in its own file (or, for trivial elementwise math, in a
//! small table-driven family file) holding: its attributes (parsed once at build time),
//! its shape/type rule and its plain reference implementation.
//!
//! Adding an operator = one file + one `r.add(...)` line in its family's `register` function.
//! See `docs/adding-an-op.md`.

use crate::{Attr, Attrs, Error, Graph, Result, Tensor, Value, ValueInfo};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

pub mod gemm;
pub mod util;

pub mod control;
pub mod elementwise;
pub mod fused;
pub mod grad;
pub mod linalg;
pub mod misc;
pub mod nn;
pub mod reduce;
pub mod rnn;
pub mod sequence;
pub mod tensor;

/// What an operator needs from the executor while it runs.
pub trait ExecCtx {
    /// Runs a subgraph (the body of If/Loop/Scan) on `inputs` (its formal inputs, in order);
    /// outer-scope values remain visible to it. Returns the subgraph's outputs in order.
    fn run_subgraph(&self, graph: &Arc<Graph>, inputs: Vec<Tensor>) -> Result<Vec<Tensor>> {
        let outs = self.run_subgraph_values(graph, inputs.into_iter().map(Value::from).collect())?;
        outs.into_iter().map(Value::into_tensor).collect()
    }

    /// Like [`ExecCtx::run_subgraph`] for bodies that take or produce sequences/optionals.
    fn run_subgraph_values(&self, graph: &Arc<Graph>, inputs: Vec<Value>) -> Result<Vec<Value>>;
}

/// A statically known input during shape inference: its type info and, if constant, its value.
#[derive(Clone, Copy)]
pub struct InferInput<'a> {
    pub info: Option<&'a ValueInfo>,
    pub value: Option<&'a Tensor>,
}

/// A built operator: attributes already parsed, ready to run.
pub trait Op: Send + Sync + Debug {
    /// Computes the outputs. `inputs[i]` is `None` for an absent optional input; the slice has
    /// exactly as many entries as the node has inputs. Must return one tensor per node output
    /// (outputs the node does not use may still be returned).
    fn run(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>>;

    /// Static dtype/shape inference. Returning fewer entries than outputs (the default returns
    /// none) means "unknown"; run time shapes are always exact whatever this returns.
    fn infer(&self, _inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(vec![])
    }

    /// Called once at plan time with the node's constant inputs (`Some` where input `i` is an
    /// initializer the caller cannot override). An op may return a specialised replacement that
    /// holds pre-processed constants (packed weights); `None` keeps `self`. The replacement must
    /// compute the same outputs for the same inputs.
    fn prepare(&self, _consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        Ok(None)
    }

    /// [`Op::prepare`] told what static shape inference knows of the node's inputs (`inputs[i]`,
    /// `None` when nothing is known); the planner calls this one. Ops whose packing depends on
    /// input shapes (Conv: Winograd or im2col) override it; the default calls [`Op::prepare`].
    fn prepare_shaped(
        &self,
        consts: &[Option<&Tensor>],
        _inputs: &[Option<&ValueInfo>],
    ) -> Result<Option<Arc<dyn Op>>> {
        self.prepare(consts)
    }

    /// Constant inputs this (prepared) kernel no longer reads because it holds all it needs
    /// from them (packed weights). The plan passes `None` there and releases a constant that no
    /// other step reads ([`crate::Plan::compile`]). Default: none.
    fn absorbed_inputs(&self) -> &'static [usize] {
        &[]
    }

    /// Bytes of constant data the kernel holds itself (packed weights), for memory reports.
    fn held_bytes(&self) -> usize {
        0
    }

    /// Runs on general values (sequences, optionals). Operators on tensors only implement
    /// [`Op::run`]; this default unwraps tensor inputs and refuses anything else.
    fn run_values(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let mut ts = Vec::with_capacity(inputs.len());
        for v in inputs {
            ts.push(match v {
                None => None,
                Some(Value::Tensor(t)) => Some(t.as_ref()),
                Some(Value::Optional(None)) => None,
                Some(Value::Optional(Some(b))) => Some(b.as_tensor()?),
                Some(other) => {
                    return Err(Error::Unsupported(format!("{} input to a tensor operator", other.kind_name())))
                }
            });
        }
        Ok(self.run(ctx, &ts)?.into_iter().map(Value::from).collect())
    }

    /// Inputs whose buffer this operator can reuse for its first output (in place). The executor
    /// then calls [`Op::run_inplace`] instead of [`Op::run`], handing over by value each of these
    /// inputs that dies at this step and that it holds the only reference to. Default: none.
    fn inplace_inputs(&self) -> &'static [usize] {
        &[]
    }

    /// Like [`Op::run`], with some inputs possibly owned ([`InArg::Owned`]): the operator may
    /// take one with [`InArg::take_owned`] and write its output into that buffer. Owned inputs
    /// left in place are recycled by the executor. The default runs [`Op::run`].
    fn run_inplace(&self, ctx: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        let refs: Vec<Option<&Tensor>> = inputs.iter().map(|a| a.as_deref()).collect();
        self.run(ctx, &refs)
    }
}

/// An input passed to [`Op::run_inplace`]: borrowed as usual, or owned when this step is its last
/// reader and nothing else refers to it (its buffer may become the output).
#[derive(Debug)]
pub enum InArg<'a> {
    Ref(&'a Tensor),
    Owned(Tensor),
}

impl std::ops::Deref for InArg<'_> {
    type Target = Tensor;
    fn deref(&self) -> &Tensor {
        match self {
            InArg::Ref(t) => t,
            InArg::Owned(t) => t,
        }
    }
}

impl InArg<'_> {
    /// Takes input `i` by value if it is owned and `keep(&tensor)` accepts it (it stays in
    /// place otherwise).
    pub fn take_owned(inputs: &mut [Option<InArg<'_>>], i: usize, keep: impl Fn(&Tensor) -> bool) -> Option<Tensor> {
        let slot = inputs.get_mut(i)?;
        match slot {
            Some(InArg::Owned(t)) if keep(t) => match slot.take() {
                Some(InArg::Owned(t)) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    /// Borrowed views of all inputs (for falling back to [`Op::run`]).
    pub fn refs<'b>(inputs: &'b [Option<InArg<'_>>]) -> Vec<Option<&'b Tensor>> {
        inputs.iter().map(|a| a.as_deref()).collect()
    }
}

/// Everything an operator builder gets: the node's attributes, opset and arity.
pub struct BuildCtx<'a> {
    pub node_name: &'a str,
    pub op_type: &'a str,
    pub attrs: &'a Attrs,
    /// The opset version of this node's domain in the model.
    pub opset: i64,
    pub n_inputs: usize,
    pub n_outputs: usize,
}

fn attr_err(name: &str, msg: impl Into<String>) -> Error {
    Error::Attr { attr: name.to_string(), msg: msg.into() }
}

impl<'a> BuildCtx<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Attr> {
        self.attrs.get(name)
    }
    pub fn has(&self, name: &str) -> bool {
        self.attrs.contains_key(name)
    }
    pub fn int_opt(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attr::Int(v)) => Ok(Some(*v)),
            Some(other) => Err(attr_err(name, format!("expected an int, got {other:?}"))),
        }
    }
    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.int_opt(name)?.unwrap_or(default))
    }
    pub fn req_int(&self, name: &str) -> Result<i64> {
        self.int_opt(name)?.ok_or_else(|| attr_err(name, "required attribute is missing"))
    }
    pub fn float_opt(&self, name: &str) -> Result<Option<f32>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attr::Float(v)) => Ok(Some(*v)),
            Some(Attr::Int(v)) => Ok(Some(*v as f32)),
            Some(other) => Err(attr_err(name, format!("expected a float, got {other:?}"))),
        }
    }
    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.float_opt(name)?.unwrap_or(default))
    }
    pub fn ints_opt(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(Attr::Int(v)) => Ok(Some(vec![*v])),
            Some(other) => Err(attr_err(name, format!("expected ints, got {other:?}"))),
        }
    }
    pub fn floats_opt(&self, name: &str) -> Result<Option<Vec<f32>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attr::Floats(v)) => Ok(Some(v.clone())),
            Some(Attr::Float(v)) => Ok(Some(vec![*v])),
            Some(other) => Err(attr_err(name, format!("expected floats, got {other:?}"))),
        }
    }
    pub fn string_opt(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attr::String(v)) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            Some(other) => Err(attr_err(name, format!("expected a string, got {other:?}"))),
        }
    }
    pub fn string(&self, name: &str, default: &str) -> Result<String> {
        Ok(self.string_opt(name)?.unwrap_or_else(|| default.to_string()))
    }
    pub fn strings_opt(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attr::Strings(v)) => Ok(Some(v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())),
            Some(other) => Err(attr_err(name, format!("expected strings, got {other:?}"))),
        }
    }
    pub fn tensor_opt(&self, name: &str) -> Result<Option<&'a Tensor>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attr::Tensor(t)) => Ok(Some(t)),
            Some(other) => Err(attr_err(name, format!("expected a tensor, got {other:?}"))),
        }
    }
    pub fn graph(&self, name: &str) -> Result<Arc<Graph>> {
        match self.get(name) {
            Some(Attr::Graph(g)) => Ok(g.clone()),
            None => Err(attr_err(name, "required graph attribute is missing")),
            Some(other) => Err(attr_err(name, format!("expected a graph, got {other:?}"))),
        }
    }
}

/// Builds an operator from its node description.
pub type BuildFn = fn(&BuildCtx) -> Result<Arc<dyn Op>>;

/// A registered operator.
#[derive(Clone, Copy)]
pub struct OpDef {
    pub op_type: &'static str,
    /// "" for the default ONNX domain.
    pub domain: &'static str,
    /// Oldest opset version this builder handles (older models of the op are refused).
    pub since: i64,
    pub build: BuildFn,
}

/// Table of known operators by (domain, op_type).
#[derive(Default)]
pub struct Registry {
    ops: HashMap<(String, String), OpDef>,
}

impl Registry {
    /// Registers an operator of the default domain supported from opset `since`.
    pub fn add(&mut self, op_type: &'static str, since: i64, build: BuildFn) {
        self.add_domain("", op_type, since, build)
    }

    pub fn add_domain(&mut self, domain: &'static str, op_type: &'static str, since: i64, build: BuildFn) {
        self.ops.insert((domain.to_string(), op_type.to_string()), OpDef { op_type, domain, since, build });
    }

    /// Finds the operator for `op_type` in `domain` at the model's `opset`.
    pub fn lookup(&self, domain: &str, op_type: &str, opset: i64) -> Option<&OpDef> {
        let domain = if domain == "ai.onnx" { "" } else { domain };
        self.ops.get(&(domain.to_string(), op_type.to_string())).filter(|d| opset >= d.since)
    }

    /// Every registered operator, sorted by domain then name.
    pub fn all(&self) -> Vec<&OpDef> {
        let mut v: Vec<&OpDef> = self.ops.values().collect();
        v.sort_by_key(|d| (d.domain, d.op_type));
        v
    }

    /// The registry with every built-in operator.
    pub fn builtin() -> &'static Registry {
        static REG: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        REG.get_or_init(|| {
            let mut r = Registry::default();
            elementwise::register(&mut r);
            tensor::register(&mut r);
            nn::register(&mut r);
            linalg::register(&mut r);
            rnn::register(&mut r);
            reduce::register(&mut r);
            control::register(&mut r);
            sequence::register(&mut r);
            misc::register(&mut r);
            fused::register(&mut r);
            grad::register(&mut r);
            r
        })
    }
}

/// Fetches required input `i`, with a clear error when it is absent.
pub fn input<'a>(inputs: &[Option<&'a Tensor>], i: usize, op: &str) -> Result<&'a Tensor> {
    inputs.get(i).copied().flatten().ok_or_else(|| Error::Invalid(format!("{op}: required input #{i} is missing")))
}

/// Fetches optional input `i` (absent when out of range or empty).
pub fn opt_input<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> Option<&'a Tensor> {
    inputs.get(i).copied().flatten()
}
