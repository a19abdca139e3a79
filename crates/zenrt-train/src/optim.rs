//! Optimizers and learning-rate schedules. Updates run in place on f32 parameter tensors.
//!
//! Update rules (PyTorch's formulation; `g` is the gradient, `t` the 1-based step count):
//!
//! - **SGD**: `g ← g + wd·p`; with momentum `μ > 0`: `b ← μ·b + g` (`b = g` at the first
//!   step), then `g ← g + μ·b` (Nesterov) or `g ← b`; finally `p ← p − lr·g`. For a constant
//!   learning rate this is exactly Keras' `v ← μ·v − lr·g; p ← p + v` (with `v = −lr·b`).
//! - **Adam**: `g ← g + wd·p` (L2, default 0); `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
//!   `p ← p − lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)`.
//! - **AdamW**: decoupled decay `p ← p·(1 − lr·wd)` first, then the Adam step without L2.
//! - **RMSprop**: `v ← ρv + (1−ρ)g²`; with momentum `μ`: `b ← μb + g/(√v+ε)`, `p ← p − lr·b`,
//!   else `p ← p − lr·g/(√v+ε)`.
//!
//! Defaults are Keras' (`Sgd`: lr 0.01; `Adam`/`AdamW`: lr 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-7,
//! AdamW weight decay 0.004; `RmsProp`: lr 1e-3, ρ 0.9, ε 1e-7). Note Keras places ε slightly
//! differently in Adam (`ε̂ = ε·√(1−β₂ᵗ)`) and inside the square root in RMSprop; with ε this
//! small the difference is far below f32 training noise.
//!
//! State (`state`/`load_state`): `iterations` (a 1-element f64 tensor) and one slot tensor per
//! parameter and kind, named `<kind>.<index>` (`momentum.0`, `m.3`, `v.3`, ...).

use zenrt_core::{Error, Result, Tensor};

/// An optimizer over a fixed list of parameters (same order at every step).
pub trait Optimizer: Send {
    /// Updates `params` in place from `grads` (same count, shapes and f32 dtype).
    fn step(&mut self, params: &mut [Tensor], grads: &[Tensor]) -> Result<()>;
    /// The optimizer's state, to save with a checkpoint.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores a state produced by [`Optimizer::state`] of the same optimizer kind.
    fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()>;
    /// The current learning rate.
    fn lr(&self) -> f32;
    /// Sets the learning rate (schedules call this).
    fn set_lr(&mut self, lr: f32);
    /// Keras-style name (`sgd`, `adam`, `adamw`, `rmsprop`).
    fn name(&self) -> &'static str;
}

/// Per-parameter slot buffers of one kind plus the step counter.
#[derive(Clone, Debug, Default)]
struct Slots {
    iterations: u64,
    /// kind → one buffer per parameter (empty until the first step).
    kinds: Vec<(&'static str, Vec<Vec<f32>>)>,
}

impl Slots {
    fn new(kinds: &[&'static str]) -> Slots {
        Slots { iterations: 0, kinds: kinds.iter().map(|k| (*k, vec![])).collect() }
    }

    /// Makes sure every slot has one zero buffer per parameter, sized like it.
    fn ensure(&mut self, sizes: &[usize]) -> Result<()> {
        for (kind, bufs) in &mut self.kinds {
            if bufs.is_empty() {
                *bufs = sizes.iter().map(|&n| vec![0.0; n]).collect();
            }
            if bufs.len() != sizes.len() || bufs.iter().zip(sizes).any(|(b, &n)| b.len() != n) {
                return Err(Error::Invalid(format!(
                    "optimizer state '{kind}' was made for different parameters ({} buffers, {} parameters)",
                    bufs.len(),
                    sizes.len()
                )));
            }
        }
        Ok(())
    }

    fn save(&self, shapes: &[Vec<usize>]) -> Vec<(String, Tensor)> {
        let mut out = vec![("iterations".to_string(), Tensor::from_vec(vec![1], vec![self.iterations as f64]).ok())];
        for (kind, bufs) in &self.kinds {
            for (i, b) in bufs.iter().enumerate() {
                let shape = shapes.get(i).cloned().unwrap_or_else(|| vec![b.len()]);
                out.push((format!("{kind}.{i}"), Tensor::from_vec(shape, b.clone()).ok()));
            }
        }
        out.into_iter().filter_map(|(n, t)| t.map(|t| (n, t))).collect()
    }

    fn load(&mut self, state: Vec<(String, Tensor)>) -> Result<Vec<Vec<usize>>> {
        let bad = |m: String| Error::Invalid(format!("optimizer state: {m}"));
        let mut fresh = Slots::new(&self.kinds.iter().map(|(k, _)| *k).collect::<Vec<_>>());
        let mut shapes: Vec<Vec<usize>> = vec![];
        let mut saw_iter = false;
        for (name, t) in state {
            if name == "iterations" {
                let v = t.to_f64_vec();
                let it = v.first().copied().filter(|x| *x >= 0.0 && x.fract() == 0.0);
                fresh.iterations = it.ok_or_else(|| bad(format!("bad iterations value {v:?}")))? as u64;
                saw_iter = true;
                continue;
            }
            let (kind, idx) = name.split_once('.').ok_or_else(|| bad(format!("unexpected entry '{name}'")))?;
            let idx: usize = idx.parse().map_err(|_| bad(format!("unexpected entry '{name}'")))?;
            let slot = fresh
                .kinds
                .iter_mut()
                .find(|(k, _)| *k == kind)
                .ok_or_else(|| bad(format!("unknown slot '{kind}'")))?;
            if idx != slot.1.len() {
                return Err(bad(format!("entry '{name}' out of order")));
            }
            if shapes.len() <= idx {
                shapes.push(t.shape().to_vec());
            }
            slot.1.push(t.cast(zenrt_core::DType::F32)?.into_vec::<f32>()?);
        }
        if !saw_iter {
            return Err(bad("missing 'iterations'".into()));
        }
        let n = fresh.kinds.first().map(|(_, b)| b.len()).unwrap_or(0);
        if fresh.kinds.iter().any(|(_, b)| b.len() != n) {
            return Err(bad("slot kinds have different parameter counts".into()));
        }
        *self = fresh;
        Ok(shapes)
    }

    fn buf(&mut self, kind: usize, i: usize) -> &mut Vec<f32> {
        &mut self.kinds[kind].1[i]
    }
}

/// Checks params/grads and returns their element counts.
fn check(op: &str, params: &[Tensor], grads: &[Tensor]) -> Result<Vec<usize>> {
    if params.len() != grads.len() {
        return Err(Error::Invalid(format!("{op}: {} parameters but {} gradients", params.len(), grads.len())));
    }
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        if p.shape() != g.shape() {
            return Err(Error::Invalid(format!(
                "{op}: parameter #{i} has shape {:?} but its gradient {:?}",
                p.shape(),
                g.shape()
            )));
        }
        if p.dtype() != zenrt_core::DType::F32 || g.dtype() != zenrt_core::DType::F32 {
            return Err(Error::Invalid(format!("{op}: parameter #{i} and its gradient must be f32")));
        }
    }
    Ok(params.iter().map(|p| p.len()).collect())
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay.
#[derive(Clone, Debug)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
    slots: Slots,
    shapes: Vec<Vec<usize>>,
}

impl Sgd {
    pub fn new(lr: f32, momentum: f32, nesterov: bool, weight_decay: f32) -> Sgd {
        Sgd { lr, momentum, nesterov, weight_decay, slots: Slots::new(&["momentum"]), shapes: vec![] }
    }
}

impl Default for Sgd {
    fn default() -> Sgd {
        Sgd::new(0.01, 0.0, false, 0.0)
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &mut [Tensor], grads: &[Tensor]) -> Result<()> {
        let sizes = check("SGD", params, grads)?;
        if self.momentum != 0.0 {
            self.slots.ensure(&sizes)?;
        }
        self.shapes = params.iter().map(|p| p.shape().to_vec()).collect();
        let first = self.slots.iterations == 0;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let gv = g.as_slice::<f32>()?;
            let pv = p.as_mut_slice::<f32>()?;
            for j in 0..pv.len() {
                let mut d = gv[j] + self.weight_decay * pv[j];
                if self.momentum != 0.0 {
                    let b = &mut self.slots.buf(0, i)[j];
                    *b = if first { d } else { self.momentum * *b + d };
                    d = if self.nesterov { d + self.momentum * *b } else { *b };
                }
                pv[j] -= self.lr * d;
            }
        }
        self.slots.iterations += 1;
        Ok(())
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots.save(&self.shapes)
    }
    fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        self.shapes = self.slots.load(state)?;
        Ok(())
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn name(&self) -> &'static str {
        "sgd"
    }
}

/// Adam (Kingma & Ba). With `decoupled` false the weight decay is L2, added to the gradient (PyTorch's `Adam`);
/// with it true the decay shrinks the weights directly (AdamW, Loshchilov & Hutter; build it with [`AdamW::new`]).
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// Decoupled (AdamW) rather than L2 weight decay.
    pub decoupled: bool,
    slots: Slots,
    shapes: Vec<Vec<usize>>,
}

impl Adam {
    pub fn new(lr: f32, beta1: f32, beta2: f32, eps: f32) -> Adam {
        let slots = Slots::new(&["m", "v"]);
        Adam { lr, beta1, beta2, eps, weight_decay: 0.0, decoupled: false, slots, shapes: vec![] }
    }
}

impl Default for Adam {
    fn default() -> Adam {
        Adam::new(1e-3, 0.9, 0.999, 1e-7)
    }
}

/// AdamW: an [`Adam`] with decoupled weight decay.
pub struct AdamW;

impl AdamW {
    /// An [`Adam`] whose weight decay is decoupled from the gradient.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32) -> Adam {
        Adam { weight_decay, decoupled: true, ..Adam::new(lr, beta1, beta2, eps) }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &mut [Tensor], grads: &[Tensor]) -> Result<()> {
        let sizes = check(if self.decoupled { "AdamW" } else { "Adam" }, params, grads)?;
        self.shapes = params.iter().map(|p| p.shape().to_vec()).collect();
        let (b1, b2, eps, lr) = (self.beta1, self.beta2, self.eps, self.lr);
        let (l2, decay) = if self.decoupled { (0.0, self.weight_decay) } else { (self.weight_decay, 0.0) };
        let slots = &mut self.slots;
        slots.ensure(&sizes)?;
        slots.iterations += 1;
        let t = slots.iterations as i32;
        let bc1 = 1.0 - (b1 as f64).powi(t);
        let bc2 = 1.0 - (b2 as f64).powi(t);
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let gv = g.as_slice::<f32>()?;
            let pv = p.as_mut_slice::<f32>()?;
            for j in 0..pv.len() {
                if decay != 0.0 {
                    pv[j] *= 1.0 - lr * decay;
                }
                let gj = gv[j] + l2 * pv[j];
                let m = &mut slots.buf(0, i)[j];
                *m = b1 * *m + (1.0 - b1) * gj;
                let mj = *m;
                let v = &mut slots.buf(1, i)[j];
                *v = b2 * *v + (1.0 - b2) * gj * gj;
                let vj = *v;
                let mhat = mj as f64 / bc1;
                let vhat = vj as f64 / bc2;
                pv[j] -= (lr as f64 * mhat / (vhat.sqrt() + eps as f64)) as f32;
            }
        }
        Ok(())
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots.save(&self.shapes)
    }
    fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        self.shapes = self.slots.load(state)?;
        Ok(())
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn name(&self) -> &'static str {
        if self.decoupled {
            "adamw"
        } else {
            "adam"
        }
    }
}

/// RMSprop (Hinton), optionally with momentum.
#[derive(Clone, Debug)]
pub struct RmsProp {
    pub lr: f32,
    pub rho: f32,
    pub momentum: f32,
    pub eps: f32,
    slots: Slots,
    shapes: Vec<Vec<usize>>,
}

impl RmsProp {
    pub fn new(lr: f32, rho: f32, momentum: f32, eps: f32) -> RmsProp {
        RmsProp { lr, rho, momentum, eps, slots: Slots::new(&["v", "momentum"]), shapes: vec![] }
    }
}

impl Default for RmsProp {
    fn default() -> RmsProp {
        RmsProp::new(1e-3, 0.9, 0.0, 1e-7)
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self, params: &mut [Tensor], grads: &[Tensor]) -> Result<()> {
        let sizes = check("RMSprop", params, grads)?;
        self.slots.ensure(&sizes)?;
        self.shapes = params.iter().map(|p| p.shape().to_vec()).collect();
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let gv = g.as_slice::<f32>()?;
            let pv = p.as_mut_slice::<f32>()?;
            for j in 0..pv.len() {
                let v = &mut self.slots.buf(0, i)[j];
                *v = self.rho * *v + (1.0 - self.rho) * gv[j] * gv[j];
                let step = gv[j] / (v.sqrt() + self.eps);
                if self.momentum != 0.0 {
                    let b = &mut self.slots.buf(1, i)[j];
                    *b = self.momentum * *b + step;
                    pv[j] -= self.lr * *b;
                } else {
                    pv[j] -= self.lr * step;
                }
            }
        }
        self.slots.iterations += 1;
        Ok(())
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots.save(&self.shapes)
    }
    fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        self.shapes = self.slots.load(state)?;
        Ok(())
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn name(&self) -> &'static str {
        "rmsprop"
    }
}

/// A learning-rate schedule: the rate for epoch (or step) `t` (0-based) from a base rate.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum LrSchedule {
    #[default]
    Constant,
    /// `base · γ^⌊t / step_size⌋` (PyTorch StepLR).
    Step { step_size: usize, gamma: f32 },
    /// `min + (base − min)·(1 + cos(π·min(t, total)/total))/2` (cosine annealing, no restarts).
    Cosine { total: usize, min_lr: f32 },
}

impl LrSchedule {
    /// The learning rate at epoch/step `t`.
    pub fn lr_at(&self, base: f32, t: usize) -> f32 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { step_size, gamma } => base * gamma.powi((t / step_size.max(1)) as i32),
            LrSchedule::Cosine { total, min_lr } => {
                let frac = t.min(total) as f64 / total.max(1) as f64;
                (min_lr as f64 + (base - min_lr) as f64 * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())) as f32
            }
        }
    }

    /// Sets `opt`'s learning rate for epoch/step `t`.
    pub fn apply(&self, opt: &mut dyn Optimizer, base: f32, t: usize) {
        opt.set_lr(self.lr_at(base, t));
    }
}
