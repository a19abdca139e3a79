//! [`Session`]: a model imported, planned and ready to run.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use zenrt_core::passes::PassOptions;
use zenrt_core::{Error, Model, Plan, ReferenceBackend, Result, StepTiming, Tensor, Value, ValueInfo};

/// Options for creating a [`Session`].
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Which graph optimization passes run (all by default).
    pub passes: PassOptions,
}

/// A loaded model, ready to run many times (`run` takes `&self`; a session can be shared across threads).
pub struct Session {
    model: Model,
    plan: Plan,
    inputs: Vec<ValueInfo>,
}

/// Named outputs of one run, in the graph's output order.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub names: Vec<String>,
    /// One value per output; almost always a tensor (see [`Outputs::get`]).
    pub values: Vec<Value>,
}

impl Outputs {
    /// The output called `name`, if it is a tensor.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.get_value(name).and_then(|v| v.as_tensor().ok())
    }
    /// The output called `name`, whatever its kind (tensor, sequence, optional).
    pub fn get_value(&self, name: &str) -> Option<&Value> {
        self.names.iter().position(|n| n == name).map(|i| &self.values[i])
    }
    /// Output `i` (graph order) if it is a tensor.
    pub fn tensor(&self, i: usize) -> Option<&Tensor> {
        self.values.get(i).and_then(|v| v.as_tensor().ok())
    }
    /// (name, value) pairs in graph order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names.iter().map(|s| s.as_str()).zip(&self.values)
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Session {
    /// Opens an ONNX model file (external data is read from the file's folder).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Session> {
        Session::from_file_with(path, &SessionOptions::default())
    }

    /// Opens an ONNX model file with options.
    pub fn from_file_with(path: impl AsRef<Path>, opts: &SessionOptions) -> Result<Session> {
        Session::from_model(zenrt_onnx::load_model(path.as_ref())?, opts).map_err(|e| match e {
            e @ (Error::Io { .. } | Error::Decode { .. } | Error::Context { .. }) => e,
            e => e.context(path.as_ref().display().to_string()),
        })
    }

    /// Opens an ONNX model held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Session> {
        Session::from_model(zenrt_onnx::load_model_bytes(bytes, &Default::default())?, &SessionOptions::default())
    }

    /// Plans an already imported model.
    pub fn from_model(model: Model, opts: &SessionOptions) -> Result<Session> {
        let mut optimized = model.graph.clone();
        zenrt_core::passes::optimize(&mut optimized, &opts.passes)?;
        let graph = Arc::new(optimized);
        let plan = Plan::compile(graph, &ReferenceBackend, &HashSet::new())?;
        let inputs = model.graph.real_inputs().cloned().collect();
        Ok(Session { model, plan, inputs })
    }

    /// The model's inputs (initializers excluded), with symbolic dims.
    pub fn inputs(&self) -> &[ValueInfo] {
        &self.inputs
    }

    /// The model's outputs.
    pub fn outputs(&self) -> &[ValueInfo] {
        &self.model.graph.outputs
    }

    /// The imported model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The execution plan (of the optimized graph).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The static memory plan (value sizes and lifetimes, arena layout) for the given input
    /// shapes, with symbolic dims bound from them and from `dims`; nothing runs.
    pub fn memory_plan(
        &self,
        input_shapes: &[(String, Vec<usize>)],
        dims: &std::collections::HashMap<String, usize>,
    ) -> Result<zenrt_core::MemoryPlan> {
        let mut bound = self.plan.bind_dims(input_shapes)?;
        bound.extend(dims.iter().map(|(k, v)| (k.clone(), *v)));
        Ok(self.plan.memory_plan(&bound))
    }

    /// Runs the model on named inputs.
    pub fn run<S: Into<String>>(&self, inputs: impl IntoIterator<Item = (S, Tensor)>) -> Result<Outputs> {
        self.run_values(inputs.into_iter().map(|(n, t)| (n, Value::from(t))))
    }

    /// Runs the model on named values (for models taking sequences or optionals).
    pub fn run_values<S: Into<String>>(&self, inputs: impl IntoIterator<Item = (S, Value)>) -> Result<Outputs> {
        let inputs: Vec<(String, Value)> = inputs.into_iter().map(|(n, t)| (n.into(), t)).collect();
        let values = self.plan.run_values(inputs)?;
        Ok(Outputs { names: self.model.graph.outputs.iter().map(|o| o.name.clone()).collect(), values })
    }

    /// Runs the model and times every node of the optimized graph (in execution order); see
    /// [`Plan::run_profiled`]. The normal [`Session::run`] path does no timing.
    pub fn run_profiled<S: Into<String>>(
        &self,
        inputs: impl IntoIterator<Item = (S, Tensor)>,
    ) -> Result<(Outputs, Vec<StepTiming>)> {
        let inputs: Vec<(String, Value)> = inputs.into_iter().map(|(n, t)| (n.into(), Value::from(t))).collect();
        let (values, timings) = self.plan.run_profiled(inputs)?;
        Ok((Outputs { names: self.model.graph.outputs.iter().map(|o| o.name.clone()).collect(), values }, timings))
    }
}
