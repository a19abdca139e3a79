//! `BatchNormalization` over the channel axis (axis 1 of the batched tensor).
//!
//! Training: batch statistics written with primitives (ReduceMean, Sub, Mul, Sqrt, Div), and the
//! batch mean/variance reported so the training loop folds them into the moving statistics
//! (`moving = momentum · moving + (1 - momentum) · batch`, biased variance, as Keras). Inference:
//! the ONNX BatchNormalization op with the moving statistics.

use super::{shape_err, BnStat, EmitCx, Init, LayerImpl, Mode, ParamSpec};
use serde::{Deserialize, Serialize};
use zenrt_core::{Attr, Result, Tensor};

/// Normalizes each channel, then scales by `gamma` and shifts by `beta`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormalization {
    #[serde(default = "default_momentum")]
    pub momentum: f32,
    #[serde(default = "default_epsilon")]
    pub epsilon: f32,
}

fn default_momentum() -> f32 {
    0.99
}
fn default_epsilon() -> f32 {
    1e-3
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization { momentum: default_momentum(), epsilon: default_epsilon() }
    }
}

impl BatchNormalization {
    pub fn new() -> BatchNormalization {
        BatchNormalization::default()
    }
}

impl LayerImpl for BatchNormalization {
    fn kind(&self) -> &'static str {
        "batch_normalization"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.is_empty() {
            return Err(shape_err("BatchNormalization", input, "needs a channel axis"));
        }
        if !(0.0..=1.0).contains(&self.momentum) || self.epsilon <= 0.0 {
            return Err(shape_err("BatchNormalization", input, "momentum must be in [0, 1] and epsilon positive"));
        }
        Ok(input.to_vec())
    }
    fn params(&self, input: &[usize]) -> Vec<ParamSpec> {
        let c = vec![input.first().copied().unwrap_or(0)];
        let stat = |suffix, init| ParamSpec { suffix, shape: c.clone(), init, trainable: false };
        vec![
            ParamSpec::new("gamma", c.clone(), Init::Ones),
            ParamSpec::new("beta", c.clone(), Init::Zeros),
            stat("moving_mean", Init::Zeros),
            stat("moving_variance", Init::Ones),
        ]
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, input: &[usize]) -> Result<String> {
        let (gamma, beta) = (cx.param("gamma"), cx.param("beta"));
        let (mm, mv) = (cx.param("moving_mean"), cx.param("moving_variance"));
        if cx.mode == Mode::Infer {
            return cx.b.op(
                "BatchNormalization",
                &[x, &gamma, &beta, &mm, &mv],
                vec![("epsilon", Attr::Float(self.epsilon))],
            );
        }
        // Reduce over batch and spatial axes; parameters broadcast as [1, C, 1, ...].
        let rank = input.len() + 1;
        let axes: Vec<i64> = std::iter::once(0).chain(2..rank as i64).collect();
        let mut bshape = vec![1i64; rank];
        bshape[1] = input[0] as i64;
        let red = |b: &mut crate::model::builder::GraphBuilder, v: &str| {
            b.op("ReduceMean", &[v], vec![("axes", Attr::Ints(axes.clone())), ("keepdims", Attr::Int(1))])
        };
        let mean = red(cx.b, x)?;
        let d = cx.b.op("Sub", &[x, &mean], vec![])?;
        let sq = cx.b.op("Mul", &[&d, &d], vec![])?;
        let var = red(cx.b, &sq)?;
        let eps = cx.b.constant("bn_eps", Tensor::scalar(self.epsilon));
        let ve = cx.b.op("Add", &[&var, &eps], vec![])?;
        let std = cx.b.op("Sqrt", &[&ve], vec![])?;
        let xn = cx.b.op("Div", &[&d, &std], vec![])?;
        let shape = cx.b.ints("bn_shape", &bshape);
        let g = cx.b.op("Reshape", &[&gamma, &shape], vec![])?;
        let bt = cx.b.op("Reshape", &[&beta, &shape], vec![])?;
        let y = cx.b.op("Mul", &[&xn, &g], vec![])?;
        let y = cx.b.op("Add", &[&y, &bt], vec![])?;
        cx.bn_stats.push(BnStat { mean, var, moving_mean: mm, moving_var: mv, momentum: self.momentum });
        Ok(y)
    }
}
