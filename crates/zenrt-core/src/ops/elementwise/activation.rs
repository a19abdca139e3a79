//! Pointwise activations with scalar attributes: Relu LeakyRelu Sigmoid HardSigmoid HardSwish
//! Tanh Elu Selu Celu Gelu Mish Softplus Softsign Swish ThresholdedRelu Shrink.
//!
//! Each is a scalar function computed in f64 and rounded to the element type (floats); f32
//! tensors take the vector kernels of `crate::simd` (all but Shrink).
//! Relu also takes signed integers (exact); Shrink takes every numeric type (computed in f64
//! and converted back, like the ONNX reference).

use super::common::{erf, infer_unary, map_f32, named};
use crate::ops::util::{unary_inplace, unary_map};
use crate::ops::{input, BuildCtx, ExecCtx, InArg, InferInput, Op};
use crate::{dispatch_float, dispatch_numeric, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Relu,
    LeakyRelu { alpha: f64 },
    Sigmoid,
    HardSigmoid { alpha: f64, beta: f64 },
    HardSwish,
    Tanh,
    Elu { alpha: f64 },
    Selu { alpha: f64, gamma: f64 },
    Celu { alpha: f64 },
    Gelu { tanh: bool },
    Mish,
    Softplus,
    Softsign,
    Swish { alpha: f64 },
    ThresholdedRelu { alpha: f64 },
    Shrink { lambd: f64, bias: f64 },
}

/// Numerically stable logistic function.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Numerically stable log(1 + exp(x)).
pub fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

impl Act {
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "Relu",
            Act::LeakyRelu { .. } => "LeakyRelu",
            Act::Sigmoid => "Sigmoid",
            Act::HardSigmoid { .. } => "HardSigmoid",
            Act::HardSwish => "HardSwish",
            Act::Tanh => "Tanh",
            Act::Elu { .. } => "Elu",
            Act::Selu { .. } => "Selu",
            Act::Celu { .. } => "Celu",
            Act::Gelu { .. } => "Gelu",
            Act::Mish => "Mish",
            Act::Softplus => "Softplus",
            Act::Softsign => "Softsign",
            Act::Swish { .. } => "Swish",
            Act::ThresholdedRelu { .. } => "ThresholdedRelu",
            Act::Shrink { .. } => "Shrink",
        }
    }

    /// The vectorised f32 kernel of this activation, where there is one.
    pub fn simd_f32(self) -> Option<crate::simd::UnaryFn> {
        use crate::simd::UnaryFn as F;
        Some(match self {
            Act::Relu => F::Relu,
            Act::LeakyRelu { alpha } => F::LeakyRelu(alpha as f32),
            Act::Sigmoid => F::Sigmoid,
            Act::HardSigmoid { alpha, beta } => F::HardSigmoid(alpha as f32, beta as f32),
            Act::HardSwish => F::HardSwish,
            Act::Tanh => F::Tanh,
            Act::Elu { alpha } => F::Elu(alpha as f32),
            Act::Selu { alpha, gamma } => F::Selu(alpha as f32, gamma as f32),
            Act::Celu { alpha } => F::Celu(alpha as f32),
            Act::Gelu { tanh: false } => F::Gelu,
            Act::Gelu { tanh: true } => F::GeluTanh,
            Act::Mish => F::Mish,
            Act::Softplus => F::Softplus,
            Act::Softsign => F::Softsign,
            Act::Swish { alpha: 1.0 } => F::Silu,
            Act::Swish { alpha } => F::Swish(alpha as f32),
            Act::ThresholdedRelu { alpha } => F::ThresholdedRelu(alpha as f32),
            Act::Shrink { .. } => return None,
        })
    }

    /// The activation on one value.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Act::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Act::LeakyRelu { alpha } => {
                if x < 0.0 {
                    alpha * x
                } else {
                    x
                }
            }
            Act::Sigmoid => sigmoid(x),
            Act::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Act::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Act::Tanh => x.tanh(),
            Act::Elu { alpha } => {
                if x < 0.0 {
                    alpha * x.exp_m1()
                } else {
                    x
                }
            }
            Act::Selu { alpha, gamma } => {
                if x <= 0.0 {
                    gamma * alpha * x.exp_m1()
                } else {
                    gamma * x
                }
            }
            Act::Celu { alpha } => x.max(0.0) + (alpha * (x / alpha).exp_m1()).min(0.0),
            Act::Gelu { tanh: false } => 0.5 * x * (1.0 + erf(x * std::f64::consts::FRAC_1_SQRT_2)),
            Act::Gelu { tanh: true } => {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
            }
            Act::Mish => x * softplus(x).tanh(),
            Act::Softplus => softplus(x),
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Swish { alpha } => x * sigmoid(alpha * x),
            Act::ThresholdedRelu { alpha } => {
                if x > alpha {
                    x
                } else {
                    0.0
                }
            }
            Act::Shrink { lambd, bias } => {
                if x < -lambd {
                    x + bias
                } else if x > lambd {
                    x - bias
                } else {
                    0.0
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct Activation {
    pub act: Act,
}

fn f(cx: &BuildCtx, name: &str, default: f32) -> Result<f64> {
    Ok(cx.float(name, default)? as f64)
}

fn make(act: Act) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Activation { act }))
}

pub fn build_relu(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Relu)
}
pub fn build_leaky_relu(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::LeakyRelu { alpha: f(cx, "alpha", 0.01)? })
}
pub fn build_sigmoid(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Sigmoid)
}
pub fn build_hard_sigmoid(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::HardSigmoid { alpha: f(cx, "alpha", 0.2)?, beta: f(cx, "beta", 0.5)? })
}
pub fn build_hard_swish(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::HardSwish)
}
pub fn build_tanh(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Tanh)
}
pub fn build_elu(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Elu { alpha: f(cx, "alpha", 1.0)? })
}
pub fn build_selu(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Selu { alpha: f(cx, "alpha", 1.673_263_2)?, gamma: f(cx, "gamma", 1.050_701)? })
}
pub fn build_celu(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let alpha = f(cx, "alpha", 1.0)?;
    if alpha == 0.0 {
        return Err(crate::Error::Attr { attr: "alpha".into(), msg: "Celu alpha must not be 0".into() });
    }
    make(Act::Celu { alpha })
}
pub fn build_gelu(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let tanh = match cx.string("approximate", "none")?.as_str() {
        "none" => false,
        "tanh" => true,
        other => {
            return Err(crate::Error::Attr {
                attr: "approximate".into(),
                msg: format!("expected 'none' or 'tanh', got '{other}'"),
            })
        }
    };
    make(Act::Gelu { tanh })
}
pub fn build_mish(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Mish)
}
pub fn build_softplus(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Softplus)
}
pub fn build_softsign(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Softsign)
}
pub fn build_swish(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Swish { alpha: f(cx, "alpha", 1.0)? })
}
pub fn build_thresholded_relu(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::ThresholdedRelu { alpha: f(cx, "alpha", 1.0)? })
}
pub fn build_shrink(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    make(Act::Shrink { lambd: f(cx, "lambd", 0.5)?, bias: f(cx, "bias", 0.0)? })
}

impl Op for Activation {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let act = self.act;
        let x = input(inputs, 0, act.name())?;
        let dt = x.dtype();
        let out = if let (crate::DType::F32, Some(f)) = (dt, act.simd_f32()) {
            map_f32(x, f)
        } else if dt.is_float() {
            dispatch_float!(dt, T => unary_map::<T, T>(x, |v| T::from_f64(act.eval(v.to_f64()))))
        } else if act == Act::Relu && dt.is_int() {
            dispatch_numeric!(dt, T => unary_map::<T, T>(x, |v| if v < T::zero() { T::zero() } else { v }))
        } else if matches!(act, Act::Shrink { .. }) && dt.is_int() {
            dispatch_numeric!(dt, T => unary_map::<T, T>(x, |v| T::from_f64(act.eval(v.to_f64()))))
        } else {
            Err(crate::Error::UnsupportedDType { op: String::new(), dtype: dt })
        };
        Ok(vec![named(act.name(), out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_unary(inputs, None))
    }

    /// Relu overwrites its input when it dies here (the other activations use `run`).
    fn inplace_inputs(&self) -> &'static [usize] {
        if self.act == Act::Relu {
            &[0]
        } else {
            &[]
        }
    }

    fn run_inplace(&self, ctx: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        let relu = self.act == Act::Relu;
        let Some(x) = InArg::take_owned(inputs, 0, |t| relu && (t.dtype().is_float() || t.dtype().is_int())) else {
            return self.run(ctx, &InArg::refs(inputs));
        };
        let dt = x.dtype();
        let out = dispatch_numeric!(dt, T => unary_inplace::<T>(x, |v| if v < T::zero() { T::zero() } else { v }));
        Ok(vec![named("Relu", out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert!((sigmoid(-800.0)).abs() < 1e-300);
        assert_eq!(sigmoid(800.0), 1.0);
        assert!((softplus(1000.0) - 1000.0).abs() < 1e-12);
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
        // Gelu(1) = 0.5 * (1 + erf(1/sqrt2)) = 0.8413447460685429
        assert!((Act::Gelu { tanh: false }.eval(1.0) - 0.8413447460685429).abs() < 1e-14);
        assert!((Act::Celu { alpha: 2.0 }.eval(-1.0) - 2.0 * ((-0.5f64).exp() - 1.0)).abs() < 1e-15);
        assert_eq!(Act::Shrink { lambd: 1.5, bias: 0.5 }.eval(2.0), 1.5);
        assert_eq!(Act::Shrink { lambd: 1.5, bias: 0.5 }.eval(-2.0), -1.5);
        assert_eq!(Act::Shrink { lambd: 1.5, bias: 0.5 }.eval(1.0), 0.0);
        assert_eq!(Act::HardSwish.eval(-4.0), 0.0);
        assert_eq!(Act::HardSwish.eval(4.0), 4.0);
    }

    /// The f32 vector path of every activation against the f64 reference, on a sweep.
    #[test]
    fn f32_fast_path_matches_reference() {
        let xs: Vec<f32> = (0..20_001).map(|i| -20.0 + i as f32 * 0.002).chain([0.0, -0.0, 1e-30, -1e-30]).collect();
        let acts = [
            Act::Relu,
            Act::LeakyRelu { alpha: 0.1 },
            Act::Sigmoid,
            Act::HardSigmoid { alpha: 0.2, beta: 0.5 },
            Act::HardSwish,
            Act::Tanh,
            Act::Elu { alpha: 1.5 },
            Act::Selu { alpha: 1.673_263_192_176_818_8, gamma: 1.050_701_022_148_132_3 },
            Act::Celu { alpha: 2.0 },
            Act::Gelu { tanh: false },
            Act::Gelu { tanh: true },
            Act::Mish,
            Act::Softplus,
            Act::Softsign,
            Act::Swish { alpha: 1.0 },
            Act::Swish { alpha: 0.5 },
            Act::ThresholdedRelu { alpha: 1.0 },
        ];
        for act in acts {
            let f = act.simd_f32().unwrap();
            let mut out = vec![0f32; xs.len()];
            crate::simd::map(f, &xs, &mut out);
            for (&x, &y) in xs.iter().zip(&out) {
                let want = act.eval(x as f64);
                let tol = 1e-6 * want.abs() + 1e-7;
                assert!((y as f64 - want).abs() <= tol, "{act:?}({x}) = {y}, want {want}");
            }
        }
    }
}
