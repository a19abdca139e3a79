//! `compile`, `fit` and `evaluate`: the training loop over a [`Network`].
//!
//! Per step: take a batch (shuffled per epoch with the seeded generator, or in a given order), draw
//! the dropout masks, run the compiled [`TrainStep`] (forward + loss + gradients), fold batch-norm
//! statistics into the moving ones, and let the optimizer update the trainable parameters. A
//! non-finite loss stops training with the epoch and step, and the parameters are put back to the
//! last values that gave a finite loss.

use super::network::{Built, Network};
use crate::data::{slice_rows, take_rows};
use crate::layers::{BnStat, MaskSpec};
use crate::loss::Loss;
use crate::optim::{LrSchedule, Optimizer};
use crate::rng::Rng;
use crate::step::TrainStep;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use zenrt_core::{Error, Graph, Plan, ReferenceBackend, Result, Tensor, ValueInfo};

/// Name of the target input of the training graph.
pub const TARGET: &str = "target";

/// A metric tracked during fit/evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Accuracy in the sense of the loss (sparse, categorical or binary).
    Accuracy,
    /// Mean absolute error.
    Mae,
    /// Mean squared error.
    Mse,
}

impl Metric {
    /// Parses Keras' names (`accuracy`/`acc`, `mae`, `mse`).
    pub fn parse(s: &str) -> Result<Metric> {
        match s {
            "accuracy" | "acc" => Ok(Metric::Accuracy),
            "mae" | "mean_absolute_error" => Ok(Metric::Mae),
            "mse" | "mean_squared_error" => Ok(Metric::Mse),
            _ => Err(Error::Invalid(format!("unknown metric '{s}' (known: accuracy, mae, mse)"))),
        }
    }

    /// The key in logs (`accuracy`, `mae`, `mse`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Mae => "mae",
            Metric::Mse => "mse",
        }
    }

    /// The metric of one batch (`loss` tells how to read `pred`).
    fn eval(self, loss: &Loss, pred: &Tensor, target: &Tensor) -> Result<f64> {
        match self {
            Metric::Accuracy => crate::metrics::accuracy(loss, pred, target)?
                .ok_or_else(|| Error::Invalid(format!("accuracy is not defined for the {} loss", loss.name()))),
            Metric::Mae | Metric::Mse => {
                let (p, t) = (pred.to_f64_vec(), target.to_f64_vec());
                if p.len() != t.len() {
                    return Err(Error::BadInput {
                        name: TARGET.into(),
                        msg: format!("{} targets for {} predictions", t.len(), p.len()),
                    });
                }
                let f = |d: f64| if self == Metric::Mae { d.abs() } else { d * d };
                Ok(p.iter().zip(&t).map(|(a, b)| f(a - b)).sum::<f64>() / p.len().max(1) as f64)
            }
        }
    }
}

/// What `compile` set up.
pub(crate) struct Compiled {
    step: TrainStep,
    /// Training-mode forward with the batch statistics as outputs (only with batch norm).
    stats_plan: Option<Plan>,
    stats: Vec<BnStat>,
    masks: Vec<MaskSpec>,
    input: String,
    /// The loss as the step computes it (from logits when the last activation was folded in).
    train_loss: Loss,
    /// The loss as the user gave it (on the inference graph's output).
    loss: Loss,
    metrics: Vec<Metric>,
    optimizer: Box<dyn Optimizer>,
    base_lr: f32,
    /// Indexes of the trainable parameters, in the step's order.
    trainable: Vec<usize>,
}

/// Options of `fit` (Keras' arguments).
#[derive(Clone, Debug)]
pub struct FitOptions {
    pub epochs: usize,
    pub batch_size: usize,
    /// Fraction of the data, taken from the end before any shuffling, held out for validation.
    pub validation_split: f32,
    /// Explicit validation data (takes precedence over `validation_split`).
    pub validation_data: Option<(Tensor, Tensor)>,
    /// Reshuffle the training rows every epoch.
    pub shuffle: bool,
    /// Seed of shuffling and dropout masks.
    pub seed: u64,
    /// Draw a progress bar per epoch (on stderr).
    pub verbose: bool,
    /// Explicit row order per epoch (indexes into the training rows), e.g. to replay another
    /// framework's shuffling; overrides `shuffle`.
    pub order: Option<Vec<Vec<usize>>>,
    /// Learning rate per epoch.
    pub schedule: LrSchedule,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            validation_split: 0.0,
            validation_data: None,
            shuffle: true,
            seed: 0,
            verbose: true,
            order: None,
            schedule: LrSchedule::Constant,
        }
    }
}

/// Loss and metrics of one epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    /// (`loss`, `accuracy`, ..., `val_loss`, `val_accuracy`, ...) in that order.
    pub values: Vec<(String, f64)>,
    pub steps: usize,
    /// Wall time of the epoch (validation included).
    pub seconds: f64,
    /// Time spent in training steps only (batching, forward, backward, update).
    pub step_seconds: f64,
}

impl EpochLog {
    /// The value called `key`.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.iter().find(|(k, _)| k == key).map(|v| v.1)
    }
}

/// What `fit` returns: one log per epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub epochs: Vec<EpochLog>,
}

impl History {
    /// The series of `key` over epochs (`loss`, `val_accuracy`, ...).
    pub fn series(&self, key: &str) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.get(key)).collect()
    }
    /// The last epoch's value of `key`.
    pub fn last(&self, key: &str) -> Option<f64> {
        self.epochs.last().and_then(|e| e.get(key))
    }
}

impl Network {
    /// Sets up training: `train` is the training-mode forward graph (parameters as inputs) whose
    /// output `prediction` is compared with the targets by `train_loss`; `loss` is the same loss on
    /// the inference graph's output (they differ when a final softmax/sigmoid is folded into the
    /// loss as logits).
    pub fn compile_with(
        &mut self,
        train: Built,
        prediction: &str,
        optimizer: Box<dyn Optimizer>,
        loss: Loss,
        train_loss: Loss,
        metrics: &[&str],
    ) -> Result<()> {
        let metrics = metrics.iter().map(|m| Metric::parse(m)).collect::<Result<Vec<_>>>()?;
        if metrics.contains(&Metric::Accuracy) && loss == Loss::MeanSquaredError {
            return Err(Error::Invalid(
                "the accuracy metric needs a classification loss, not mean_squared_error".into(),
            ));
        }
        let Built { graph: mut g, masks, stats } = train;
        let input = self.input_name()?;
        // Frozen parameters read by the training graph become constants; trainable ones stay inputs.
        let reads: HashSet<&str> = g.nodes.iter().flat_map(|n| n.inputs.iter().map(|s| s.as_str())).collect();
        let mut trainable = vec![];
        let mut frozen = vec![];
        for (i, p) in self.params.iter().enumerate() {
            if !reads.contains(p.name.as_str()) {
                continue;
            }
            if p.trainable {
                trainable.push(i);
            } else {
                frozen.push(i);
            }
        }
        if trainable.is_empty() {
            return Err(Error::Invalid("the model has no trainable parameters".into()));
        }
        for &i in &frozen {
            let p = &self.params[i];
            g.inputs.retain(|v| v.name != p.name);
            g.initializers.insert(p.name.clone(), Arc::new(p.value.clone()));
        }
        let names: Vec<String> = trainable.iter().map(|&i| self.params[i].name.clone()).collect();
        let step = TrainStep::new(&g, train_loss, prediction, TARGET, &names)?;
        let stats_plan = if stats.is_empty() {
            None
        } else {
            let mut sg = g.clone();
            sg.outputs = stats
                .iter()
                .flat_map(|s| [&s.mean, &s.var])
                .map(|n| ValueInfo::new(n.as_str(), Some(zenrt_core::DType::F32), None))
                .collect();
            Some(Plan::compile(Arc::new(sg), &ReferenceBackend, &HashSet::new())?)
        };
        let base_lr = optimizer.lr();
        self.train = Some(Compiled {
            step,
            stats_plan,
            stats,
            masks,
            input,
            train_loss,
            loss,
            metrics,
            optimizer,
            base_lr,
            trainable,
        });
        Ok(())
    }

    /// Trains on `x`/`y` (rows along axis 0). The parameters always hold the last good values,
    /// also when an error stops training.
    pub fn fit(&mut self, x: &Tensor, y: &Tensor, opts: &FitOptions) -> Result<History> {
        let n = rows(x, "x")?;
        if rows(y, "y")? != n {
            return Err(Error::BadInput { name: "y".into(), msg: format!("{} targets for {n} samples", y.shape()[0]) });
        }
        if opts.batch_size == 0 || opts.epochs == 0 {
            return Err(Error::Invalid("epochs and batch_size must be positive".into()));
        }
        let (xt, yt, val) = match &opts.validation_data {
            Some((vx, vy)) => (x.clone(), y.clone(), Some((vx.clone(), vy.clone()))),
            None if opts.validation_split > 0.0 => {
                if !(0.0..1.0).contains(&opts.validation_split) {
                    return Err(Error::Invalid(format!(
                        "validation_split must be in [0, 1), got {}",
                        opts.validation_split
                    )));
                }
                let split = train_rows(n, opts.validation_split);
                if split == 0 || split == n {
                    return Err(Error::Invalid(format!(
                        "validation_split {} of {n} samples leaves an empty part",
                        opts.validation_split
                    )));
                }
                let v = (slice_rows(x, split, n)?, slice_rows(y, split, n)?);
                (slice_rows(x, 0, split)?, slice_rows(y, 0, split)?, Some(v))
            }
            None => (x.clone(), y.clone(), None),
        };
        let out_shape = self.output_shape_for(&xt)?;
        let cx = self.train.as_ref().ok_or_else(|| Error::Invalid("call compile before fit".into()))?;
        let check = |x: &Tensor, y: &Tensor, what: &str| -> Result<()> {
            let mut ps = vec![rows(x, what)?];
            ps.extend_from_slice(&out_shape);
            cx.loss.check_targets(&ps, y).map_err(|e| e.context(format!("{what} targets")))
        };
        check(&xt, &yt, "training")?;
        if let Some((vx, vy)) = &val {
            if rows(vy, "validation y")? != rows(vx, "validation x")? {
                return Err(Error::BadInput { name: "validation y".into(), msg: "row count differs from x".into() });
            }
            check(vx, vy, "validation")?;
        }
        let ntrain = rows(&xt, "x")?;
        if let Some(order) = &opts.order {
            if order.len() < opts.epochs || order.iter().any(|o| o.iter().any(|&i| i >= ntrain)) {
                return Err(Error::Invalid(format!(
                    "the given row order has {} epochs, or indexes beyond the {ntrain} training rows",
                    order.len()
                )));
            }
        }
        let mut rng = Rng::new(opts.seed);
        let mut mask_rng = rng.fork();
        let mut history = History::default();
        for epoch in 0..opts.epochs {
            let t0 = Instant::now();
            let cx = self.train.as_mut().ok_or_else(|| Error::Invalid("call compile before fit".into()))?;
            let base = cx.base_lr;
            opts.schedule.apply(cx.optimizer.as_mut(), base, epoch);
            let order: Vec<usize> = match &opts.order {
                Some(o) => o[epoch].clone(),
                None if opts.shuffle => rng.permutation(ntrain),
                None => (0..ntrain).collect(),
            };
            let steps = order.len().div_ceil(opts.batch_size);
            let bar = progress_bar(opts.verbose, steps as u64, epoch, opts.epochs);
            let mut sums = vec![0.0; 1 + cx.metrics.len()];
            let mut seen = 0usize;
            let mut step_seconds = 0.0;
            for (s, idx) in order.chunks(opts.batch_size).enumerate() {
                let ts = Instant::now();
                let xb = take_rows(&xt, idx)?;
                let yb = take_rows(&yt, idx)?;
                let where_ = || format!("epoch {}/{}, step {}/{steps}", epoch + 1, opts.epochs, s + 1);
                let (loss, pred) = self
                    .train_step(xb, yb.clone(), &mut mask_rng)
                    .map_err(|e| e.context(format!("{}; the parameters keep their last good values", where_())))?;
                step_seconds += ts.elapsed().as_secs_f64();
                let cx = self.train.as_ref().ok_or_else(|| Error::Invalid("not compiled".into()))?;
                let b = idx.len() as f64;
                sums[0] += loss as f64 * b;
                for (k, m) in cx.metrics.iter().enumerate() {
                    sums[k + 1] += m.eval(&cx.train_loss, &pred, &yb)? * b;
                }
                seen += idx.len();
                bar.set_message(format_logs(&logs(cx, &sums, seen as f64, "")));
                bar.inc(1);
            }
            let cx = self.train.as_ref().ok_or_else(|| Error::Invalid("not compiled".into()))?;
            let mut values = logs(cx, &sums, seen as f64, "");
            if let Some((vx, vy)) = &val {
                let v = self.evaluate(vx, vy, opts.batch_size.max(256))?;
                values.extend(v.into_iter().map(|(k, x)| (format!("val_{k}"), x)));
            }
            bar.finish_with_message(format_logs(&values));
            history.epochs.push(EpochLog {
                epoch: epoch + 1,
                values,
                steps,
                seconds: t0.elapsed().as_secs_f64(),
                step_seconds,
            });
        }
        Ok(history)
    }

    /// One step on a batch: returns the loss and the step's prediction. On error nothing changes.
    fn train_step(&mut self, xb: Tensor, yb: Tensor, mask_rng: &mut Rng) -> Result<(f32, Tensor)> {
        let cx = self.train.as_mut().ok_or_else(|| Error::Invalid("not compiled".into()))?;
        let batch = xb.shape()[0];
        let mut feeds = vec![(cx.input.clone(), xb)];
        for m in &cx.masks {
            feeds.push((m.name.clone(), dropout_mask(m, batch, mask_rng)?));
        }
        let mut values: Vec<Tensor> = cx.trainable.iter().map(|&i| self.params[i].value.clone()).collect();
        let stats = match &cx.stats_plan {
            Some(plan) => {
                let mut inputs = feeds.clone();
                inputs.extend(cx.trainable.iter().map(|&i| self.params[i].name.clone()).zip(values.iter().cloned()));
                Some(plan.run(inputs)?)
            }
            None => None,
        };
        feeds.push((TARGET.to_string(), yb));
        let (loss, grads, pred) = cx.step.run(feeds, &values)?;
        cx.optimizer.step(&mut values, &grads)?;
        if let Some(k) = values.iter().position(|v| v.as_slice::<f32>().is_ok_and(|s| !s.iter().all(|x| x.is_finite())))
        {
            let name = &self.params[cx.trainable[k]].name;
            return Err(Error::Invalid(format!("training diverged: the update made parameter '{name}' non-finite")));
        }
        for (&i, v) in cx.trainable.iter().zip(values) {
            self.params[i].value = v;
        }
        if let Some(outs) = stats {
            for (s, mv) in cx.stats.iter().zip(outs.chunks(2)) {
                for (param, batch_stat) in [(&s.moving_mean, &mv[0]), (&s.moving_var, &mv[1])] {
                    let p = self
                        .params
                        .iter_mut()
                        .find(|p| &p.name == param)
                        .ok_or_else(|| Error::Invalid(format!("no parameter '{param}'")))?;
                    let b = batch_stat.as_slice::<f32>()?;
                    let m = s.momentum;
                    for (r, &x) in p.value.as_mut_slice::<f32>()?.iter_mut().zip(b) {
                        *r = m * *r + (1.0 - m) * x;
                    }
                }
            }
        }
        Ok((loss, pred))
    }

    /// Mean loss and metrics of the inference graph on `x`/`y` (in batches of `batch_size`).
    pub fn evaluate(&self, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<Vec<(String, f64)>> {
        let cx = self.train.as_ref().ok_or_else(|| Error::Invalid("call compile before evaluate".into()))?;
        let n = rows(x, "x")?;
        if rows(y, "y")? != n {
            return Err(Error::BadInput { name: "y".into(), msg: format!("{} targets for {n} samples", y.shape()[0]) });
        }
        let mut g: Graph = self.frozen_graph()?;
        let out = g.outputs.first().map(|o| o.name.clone()).ok_or_else(|| Error::Invalid("no output".into()))?;
        let dt = cx.loss.target_dtype(zenrt_core::DType::F32);
        g.inputs.push(ValueInfo::new(TARGET, Some(dt), None));
        let l = cx.loss.append(&mut g, &out, TARGET)?;
        g.outputs.push(ValueInfo::new(l.as_str(), Some(zenrt_core::DType::F32), None));
        let plan = Plan::compile(Arc::new(g), &ReferenceBackend, &HashSet::new())?;
        let mut sums = vec![0.0; 1 + cx.metrics.len()];
        let bs = batch_size.max(1);
        let mut start = 0;
        while start < n {
            let end = (start + bs).min(n);
            let (xb, yb) = (slice_rows(x, start, end)?, slice_rows(y, start, end)?);
            let yb_cast = if yb.dtype() != dt { yb.cast(dt)? } else { yb.clone() };
            let outs = plan.run(vec![(cx.input.clone(), xb), (TARGET.to_string(), yb_cast)])?;
            let b = (end - start) as f64;
            sums[0] += outs[1].to_f64_vec().first().copied().unwrap_or(f64::NAN) * b;
            for (k, m) in cx.metrics.iter().enumerate() {
                sums[k + 1] += m.eval(&cx.loss, &outs[0], &yb)? * b;
            }
            start = end;
        }
        Ok(logs(cx, &sums, n as f64, ""))
    }

    /// Output shape (batch excluded) of the inference graph for inputs like `x`.
    fn output_shape_for(&self, x: &Tensor) -> Result<Vec<usize>> {
        let probe = slice_rows(x, 0, 1.min(rows(x, "x")?))?;
        let out = self.predict(&probe, 1).map_err(|e| e.context("running the model on the first sample"))?;
        Ok(out.shape()[1..].to_vec())
    }

    /// The optimizer's state (to checkpoint), if compiled.
    pub fn optimizer_state(&self) -> Option<Vec<(String, Tensor)>> {
        self.train.as_ref().map(|c| c.optimizer.state())
    }
}

/// How many of `n` rows train under `validation_split` (Keras: `int(n * (1 - split))`, with the
/// split read as the decimal it was written as, so 0.2f32 means 0.2).
pub fn train_rows(n: usize, validation_split: f32) -> usize {
    let s: f64 = validation_split.to_string().parse().unwrap_or(validation_split as f64);
    (n as f64 * (1.0 - s)) as usize
}

fn rows(t: &Tensor, what: &str) -> Result<usize> {
    t.shape().first().copied().ok_or_else(|| Error::BadInput { name: what.into(), msg: "needs a batch axis".into() })
}

fn logs(cx: &Compiled, sums: &[f64], n: f64, prefix: &str) -> Vec<(String, f64)> {
    let n = n.max(1.0);
    let mut v = vec![(format!("{prefix}loss"), sums[0] / n)];
    v.extend(cx.metrics.iter().zip(&sums[1..]).map(|(m, s)| (format!("{prefix}{}", m.name()), s / n)));
    v
}

fn format_logs(v: &[(String, f64)]) -> String {
    v.iter().map(|(k, x)| format!("{k} {x:.4}")).collect::<Vec<_>>().join("  ")
}

fn progress_bar(verbose: bool, steps: u64, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if !verbose {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "epoch {}/{epochs} [{{bar:25}}] {{pos}}/{{len}} {{elapsed}}  {{msg}}",
        epoch + 1
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A dropout mask for a batch: 0 with probability `rate`, else 1/(1-rate).
fn dropout_mask(m: &MaskSpec, batch: usize, rng: &mut Rng) -> Result<Tensor> {
    let mut shape = vec![batch];
    shape.extend_from_slice(&m.shape);
    let n = zenrt_core::checked_numel(&shape, zenrt_core::DType::F32, "dropout mask")?;
    let keep = 1.0 / (1.0 - m.rate);
    let v = (0..n).map(|_| if rng.uniform() < m.rate as f64 { 0.0 } else { keep }).collect();
    Tensor::from_vec(shape, v)
}
