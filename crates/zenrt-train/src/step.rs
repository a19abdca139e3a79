//! A compiled training step: forward graph + loss + backward graph, planned once and run on
//! batch after batch with the current parameter values fed as inputs.

use crate::autodiff::{backward, grad_of};
use crate::loss::Loss;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use zenrt_core::passes::{optimize, PassOptions};
use zenrt_core::{DType, Error, Graph, Plan, ReferenceBackend, Result, Tensor, ValueInfo};

/// Forward + loss + gradients of a model, compiled once.
#[derive(Debug)]
pub struct TrainStep {
    plan: Plan,
    params: Vec<String>,
    target_input: String,
    target_dtype: DType,
    pred_index: usize,
    extra_index: Vec<usize>,
    loss: Loss,
    steps: AtomicU64,
}

impl TrainStep {
    /// Builds the training graph: `loss(prediction, target_input)` appended to `forward`
    /// (`target_input` becomes a graph input if it is not one), differentiated with respect
    /// to `params` (graph inputs of `forward`), optimized with the default passes and planned.
    pub fn new(
        forward: &Graph,
        loss: Loss,
        prediction: &str,
        target_input: &str,
        params: &[String],
    ) -> Result<TrainStep> {
        TrainStep::with_outputs(forward, loss, prediction, target_input, params, &[])
    }

    /// Like [`TrainStep::new`]; [`TrainStep::run_with_outputs`] also returns the values named
    /// in `extra` (forward values such as batch-norm batch statistics) from the same run.
    pub fn with_outputs(
        forward: &Graph,
        loss: Loss,
        prediction: &str,
        target_input: &str,
        params: &[String],
        extra: &[String],
    ) -> Result<TrainStep> {
        let mut g = forward.clone();
        let pred_dtype = crate::autodiff::builder::Builder::new(&mut g, "probe").dtype_of(prediction);
        let target_dtype = match g.inputs.iter().find(|i| i.name == target_input) {
            Some(vi) => vi.dtype.unwrap_or(loss.target_dtype(pred_dtype)),
            None => {
                let dt = loss.target_dtype(pred_dtype);
                g.inputs.push(ValueInfo::new(target_input, Some(dt), None));
                dt
            }
        };
        for name in std::iter::once(prediction).chain(extra.iter().map(|s| s.as_str())) {
            if !g.outputs.iter().any(|o| o.name == name) {
                g.outputs.push(ValueInfo::new(name, None, None));
            }
        }
        let loss_name = loss.append(&mut g, prediction, target_input)?;
        let mut bg = backward(&g, &loss_name, params)?;
        optimize(&mut bg, &PassOptions::default())?;
        let pred_index = bg.outputs.iter().position(|o| o.name == prediction).ok_or_else(|| {
            Error::Invalid(format!("prediction '{prediction}' is not an output of the training graph"))
        })?;
        let mut extra_index = Vec::with_capacity(extra.len());
        for e in extra {
            let i = bg.outputs.iter().position(|o| &o.name == e);
            extra_index.push(i.ok_or_else(|| Error::Invalid(format!("'{e}' is not a value of the training graph")))?);
        }
        debug_assert!(bg.outputs.iter().skip(1).zip(params).all(|(o, p)| o.name == grad_of(p)));
        let plan = Plan::compile(Arc::new(bg), &ReferenceBackend, &HashSet::new())?;
        Ok(TrainStep {
            plan,
            params: params.to_vec(),
            target_input: target_input.to_string(),
            target_dtype,
            pred_index,
            extra_index,
            loss,
            steps: AtomicU64::new(0),
        })
    }

    /// The compiled training graph (outputs: loss, one gradient per parameter, then the
    /// forward outputs).
    pub fn graph(&self) -> &Arc<Graph> {
        self.plan.graph()
    }

    /// The loss this step computes.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// Parameter names, in the order `run` expects their values.
    pub fn params(&self) -> &[String] {
        &self.params
    }

    /// How many steps have run.
    pub fn steps_run(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }

    /// Runs one step on a batch: `feeds` are the model's data inputs and the target (cast to
    /// the target input's dtype if needed), `params` the current parameter values in the
    /// order given to [`TrainStep::new`]. Returns (loss, gradients, prediction). A loss that is
    /// NaN or infinite is an error naming the step.
    pub fn run(&self, feeds: Vec<(String, Tensor)>, params: &[Tensor]) -> Result<(f32, Vec<Tensor>, Tensor)> {
        let (loss, grads, pred, _) = self.run_with_outputs(feeds, params)?;
        Ok((loss, grads, pred))
    }

    /// [`TrainStep::run`] plus the values named in `extra` at construction, in that order.
    pub fn run_with_outputs(
        &self,
        feeds: Vec<(String, Tensor)>,
        params: &[Tensor],
    ) -> Result<(f32, Vec<Tensor>, Tensor, Vec<Tensor>)> {
        if params.len() != self.params.len() {
            return Err(Error::Invalid(format!(
                "train step: {} parameter values for {} parameters",
                params.len(),
                self.params.len()
            )));
        }
        let step = self.steps.fetch_add(1, Ordering::Relaxed);
        let mut inputs = Vec::with_capacity(feeds.len() + params.len());
        for (name, t) in feeds {
            let t = if name == self.target_input && t.dtype() != self.target_dtype {
                t.cast(self.target_dtype)?
            } else {
                t
            };
            inputs.push((name, t));
        }
        inputs.extend(self.params.iter().cloned().zip(params.iter().cloned()));
        let mut outs = self.plan.run(inputs)?;
        let n = self.params.len();
        if outs.len() < n + 1 || self.pred_index >= outs.len() {
            return Err(Error::Invalid("train step: the training graph returned too few outputs".into()));
        }
        let loss = outs[0].to_f64_vec().first().copied().unwrap_or(f64::NAN);
        if !loss.is_finite() {
            return Err(Error::Invalid(format!("training diverged: loss is {loss} at step {}", step + 1)));
        }
        let pred = outs[self.pred_index].clone();
        let extra: Vec<Tensor> = self.extra_index.iter().filter_map(|&i| outs.get(i).cloned()).collect();
        let grads: Vec<Tensor> = outs.drain(1..=n).collect();
        Ok((loss as f32, grads, pred, extra))
    }
}
