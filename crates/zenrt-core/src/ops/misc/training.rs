//! The `ai.onnx.preview.training` optimizers: Adagrad, Adam, Momentum. Inputs are the learning
//! rate `R` (scalar), the update count `T` (scalar int64), then `n` tensors to optimize followed
//! by their gradients and their optimizer states (each group of `n`); outputs are the new
//! tensors followed by the new states, group by group. Computed in f64 per element.

use super::common::{from_f64, require_float, scalar_f64};
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor};
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
enum Algo {
    Adagrad { decay_factor: f64, epsilon: f64, norm_coefficient: f64 },
    Adam { alpha: f64, beta: f64, epsilon: f64, norm_coefficient: f64, norm_coefficient_post: f64 },
    Momentum { alpha: f64, beta: f64, nesterov: bool, norm_coefficient: f64 },
}

impl Algo {
    /// Tensors per optimized variable in the inputs (X, G and states).
    fn group(&self) -> usize {
        match self {
            Algo::Adam { .. } => 4,
            _ => 3,
        }
    }
}

#[derive(Debug)]
pub struct Optimizer {
    name: &'static str,
    algo: Algo,
}

fn f(cx: &BuildCtx, name: &str, default: f32) -> Result<f64> {
    Ok(cx.float(name, default)? as f64)
}

fn req_f(cx: &BuildCtx, name: &str) -> Result<f64> {
    cx.float_opt(name)?
        .map(|v| v as f64)
        .ok_or_else(|| crate::Error::Attr { attr: name.into(), msg: "required attribute is missing".into() })
}

pub fn build_adagrad(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let algo = Algo::Adagrad {
        decay_factor: f(cx, "decay_factor", 0.0)?,
        epsilon: f(cx, "epsilon", 1e-6)?,
        norm_coefficient: f(cx, "norm_coefficient", 0.0)?,
    };
    Ok(Arc::new(Optimizer { name: "Adagrad", algo }))
}

pub fn build_adam(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let algo = Algo::Adam {
        alpha: f(cx, "alpha", 0.9)?,
        beta: f(cx, "beta", 0.999)?,
        epsilon: f(cx, "epsilon", 1e-6)?,
        norm_coefficient: f(cx, "norm_coefficient", 0.0)?,
        norm_coefficient_post: f(cx, "norm_coefficient_post", 0.0)?,
    };
    Ok(Arc::new(Optimizer { name: "Adam", algo }))
}

pub fn build_momentum(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let nesterov = match cx.string_opt("mode")?.as_deref() {
        Some("standard") => false,
        Some("nesterov") => true,
        Some(m) => bail!("Momentum: unknown mode '{m}'"),
        None => bail!("Momentum: attribute 'mode' is required"),
    };
    let algo = Algo::Momentum {
        alpha: req_f(cx, "alpha")?,
        beta: req_f(cx, "beta")?,
        nesterov,
        norm_coefficient: req_f(cx, "norm_coefficient")?,
    };
    Ok(Arc::new(Optimizer { name: "Momentum", algo }))
}

impl Op for Optimizer {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let name = self.name;
        let r = scalar_f64(input(inputs, 0, name)?, "R")?;
        let t = scalar_f64(input(inputs, 1, name)?, "T")?;
        let g = self.algo.group();
        if inputs.len() < 2 + g || !(inputs.len() - 2).is_multiple_of(g) {
            bail!("{name}: expected 2 + {g}*n inputs, got {}", inputs.len());
        }
        let n = (inputs.len() - 2) / g;
        let states = g - 2;
        // outs[0] = new X's, outs[1..] = new states
        let mut outs: Vec<Vec<Tensor>> = vec![Vec::with_capacity(n); 1 + states];
        for i in 0..n {
            let get = |k: usize| input(inputs, 2 + k * n + i, name);
            let x = get(0)?;
            require_float(x, name)?;
            let mut ts = vec![x];
            for k in 1..g {
                let tk = get(k)?;
                if tk.shape() != x.shape() {
                    bail!("{name}: input shapes {:?} and {:?} differ", x.shape(), tk.shape());
                }
                ts.push(tk);
            }
            let vals: Vec<Vec<f64>> = ts.iter().map(|t| t.to_f64_vec()).collect();
            let len = x.len();
            let mut res: Vec<Vec<f64>> = vec![Vec::with_capacity(len); 1 + states];
            #[allow(clippy::needless_range_loop)]
            for e in 0..len {
                let (xv, gv) = (vals[0][e], vals[1][e]);
                match self.algo {
                    Algo::Adagrad { decay_factor, epsilon, norm_coefficient } => {
                        let h = vals[2][e];
                        let rr = r / (1.0 + t * decay_factor);
                        let gr = norm_coefficient * xv + gv;
                        let hn = h + gr * gr;
                        res[0].push(xv - rr * gr / (hn.sqrt() + epsilon));
                        res[1].push(hn);
                    }
                    Algo::Adam { alpha, beta, epsilon, norm_coefficient, norm_coefficient_post } => {
                        let (v, h) = (vals[2][e], vals[3][e]);
                        let gr = norm_coefficient * xv + gv;
                        let vn = alpha * v + (1.0 - alpha) * gr;
                        let hn = beta * h + (1.0 - beta) * gr * gr;
                        let ra = if t > 0.0 { r * (1.0 - beta.powf(t)).sqrt() / (1.0 - alpha.powf(t)) } else { r };
                        let xn = xv - ra * (vn / (hn.sqrt() + epsilon));
                        res[0].push((1.0 - norm_coefficient_post) * xn);
                        res[1].push(vn);
                        res[2].push(hn);
                    }
                    Algo::Momentum { alpha, beta, nesterov, norm_coefficient } => {
                        let v = vals[2][e];
                        let gr = norm_coefficient * xv + gv;
                        let b = if t > 0.0 { beta } else { 1.0 };
                        let vn = alpha * v + b * gr;
                        res[0].push(if nesterov { xv - r * (gr + alpha * vn) } else { xv - r * vn });
                        res[1].push(vn);
                    }
                }
            }
            for (k, data) in res.into_iter().enumerate() {
                let dt = if k == 0 { x.dtype() } else { ts[k + 1].dtype() };
                outs[k].push(from_f64(x.shape().to_vec(), data, dt)?);
            }
        }
        Ok(outs.into_iter().flatten().collect())
    }
}
