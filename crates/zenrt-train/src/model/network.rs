//! [`Network`]: a forward graph with its parameter values, whatever built it (a [`super::Sequential`]
//! stack or an imported ONNX model being fine-tuned). Predict, export and weights live here; the
//! training loop is in `fit.rs`.

use crate::data::{concat_rows, slice_rows};
use crate::layers::{BnStat, Init, MaskSpec, ParamSpec};
use crate::rng::Rng;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use zenrt_core::{Error, Graph, Model, Plan, ReferenceBackend, Result, Tensor};

/// A named parameter value.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub value: Tensor,
    /// Updated by the optimizer (false for moving statistics and frozen weights).
    pub trainable: bool,
}

/// A written graph and what its training loop must provide.
pub struct Built {
    pub graph: Graph,
    pub masks: Vec<MaskSpec>,
    pub stats: Vec<BnStat>,
}

/// Parameters plus the graphs that use them.
#[derive(Default)]
pub struct Network {
    /// Parameters in creation order.
    pub params: Vec<Param>,
    /// The inference graph (parameters as inputs), written on first use.
    pub(crate) infer: Option<Graph>,
    /// What `compile` set up.
    pub(crate) train: Option<super::fit::Compiled>,
}

impl Network {
    /// A network over an inference graph whose parameters are graph inputs named like `params`.
    pub fn from_graph(infer: Graph, params: Vec<Param>) -> Network {
        Network { params, infer: Some(infer), train: None }
    }

    /// Forgets graphs written for an older layer stack.
    pub(crate) fn invalidate(&mut self) {
        self.infer = None;
        self.train = None;
    }

    /// The parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The inference graph with the current parameter values as initializers.
    pub fn frozen_graph(&self) -> Result<Graph> {
        let mut g = self.infer.clone().ok_or_else(|| Error::Invalid("the model has no inference graph".into()))?;
        let names: HashSet<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
        g.inputs.retain(|i| !names.contains(i.name.as_str()));
        for p in &self.params {
            g.initializers.insert(p.name.clone(), Arc::new(p.value.clone()));
        }
        Ok(g)
    }

    /// An execution plan of the frozen inference graph (after the default passes).
    pub fn inference_plan(&self) -> Result<Plan> {
        let mut g = self.frozen_graph()?;
        zenrt_core::passes::optimize(&mut g, &Default::default())?;
        Plan::compile(Arc::new(g), &ReferenceBackend, &HashSet::new())
    }

    /// Output 0 of the inference graph for `x`, run in batches of `batch_size`.
    pub fn predict(&self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        let plan = self.inference_plan()?;
        let input = self.input_name()?;
        run_batched(&plan, &input, x, batch_size)
    }

    /// Name of the (single) data input of the inference graph.
    pub fn input_name(&self) -> Result<String> {
        let g = self.infer.as_ref().ok_or_else(|| Error::Invalid("the model has no inference graph".into()))?;
        let names: HashSet<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
        let data: Vec<&str> = g.real_inputs().map(|i| i.name.as_str()).filter(|n| !names.contains(n)).collect();
        match data.as_slice() {
            [one] => Ok(one.to_string()),
            _ => {
                Err(Error::Unsupported(format!("models with {} data inputs ({data:?}); one is supported", data.len())))
            }
        }
    }

    /// The inference graph as an ONNX model (parameters as initializers).
    pub fn to_onnx(&self) -> Result<Vec<u8>> {
        let model = Model {
            graph: self.frozen_graph()?,
            ir_version: zenrt_onnx::EXPORT_IR_VERSION,
            opsets: HashMap::from([(String::new(), super::builder::OPSET)]),
            producer: "zenrt-train".into(),
        };
        zenrt_onnx::export_model(&model)
    }

    /// Replaces parameter values by name (all names and shapes checked first).
    pub fn set_params(&mut self, values: Vec<(String, Tensor)>) -> Result<()> {
        let index: HashMap<&str, usize> = self.params.iter().enumerate().map(|(i, p)| (p.name.as_str(), i)).collect();
        let mut updates = Vec::with_capacity(values.len());
        for (name, t) in values {
            let &i = index.get(name.as_str()).ok_or_else(|| {
                Error::Invalid(format!(
                    "weights file has '{name}', which the model does not have (the model's parameters: {})",
                    self.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?;
            let want = &self.params[i].value;
            if t.shape() != want.shape() || t.dtype() != want.dtype() {
                return Err(Error::Invalid(format!(
                    "weights for '{name}' are {}{:?}, the model needs {}{:?}",
                    t.dtype(),
                    t.shape(),
                    want.dtype(),
                    want.shape()
                )));
            }
            updates.push((i, t));
        }
        for (i, t) in updates {
            self.params[i].value = t;
        }
        Ok(())
    }
}

/// Runs `plan` on `x` in batches along axis 0 and concatenates output 0.
pub(crate) fn run_batched(plan: &Plan, input: &str, x: &Tensor, batch_size: usize) -> Result<Tensor> {
    let n = x.shape().first().copied().ok_or_else(|| Error::Invalid("input needs a batch axis".into()))?;
    let bs = batch_size.max(1);
    let mut outs = Vec::with_capacity(n.div_ceil(bs));
    let mut start = 0;
    while start < n {
        let end = (start + bs).min(n);
        let xb = slice_rows(x, start, end)?;
        let mut out = plan.run(vec![(input.to_string(), xb)])?;
        if out.is_empty() {
            return Err(Error::Invalid("the model has no outputs".into()));
        }
        outs.push(out.swap_remove(0));
        start = end;
    }
    concat_rows(&outs)
}

/// A parameter's starting value.
pub(crate) fn init_param(p: &ParamSpec, rng: &mut Rng) -> Result<Tensor> {
    let n = zenrt_core::checked_numel(&p.shape, zenrt_core::DType::F32, p.suffix)?;
    let v: Vec<f32> = match p.init {
        Init::Zeros => vec![0.0; n],
        Init::Ones => vec![1.0; n],
        Init::GlorotUniform { fan_in, fan_out } => {
            let a = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
            (0..n).map(|_| rng.uniform_in(-a, a) as f32).collect()
        }
        Init::Uniform(a) => (0..n).map(|_| rng.uniform_in(-a as f64, a as f64) as f32).collect(),
    };
    Tensor::from_vec(p.shape.clone(), v)
}
