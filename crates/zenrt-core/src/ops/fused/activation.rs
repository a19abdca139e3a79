//! The activation epilogue of fused operators, parsed from the `activation` (string) and
//! `activation_params` (floats) attributes.

use crate::ops::elementwise::common::erf;
use crate::ops::BuildCtx;
use crate::{DType, Error, Result, Tensor};

/// An elementwise activation applied to a fused operator's output.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    LeakyRelu(f32),
    Clip(f32, f32),
    Sigmoid,
    /// `max(0, min(1, alpha*x + beta))`
    HardSigmoid(f32, f32),
    /// `x * HardSigmoid(x; 1/6, 1/2)`
    HardSwish,
    Tanh,
    /// `x * sigmoid(x)` (SiLU / Swish)
    Silu,
    /// Exact GELU: `0.5 x (1 + erf(x / sqrt 2))`
    Gelu,
    /// Tanh-approximated GELU.
    GeluTanh,
}

impl Activation {
    /// Parses `activation` / `activation_params`; absent means `None`.
    pub fn parse(cx: &BuildCtx) -> Result<Activation> {
        Activation::parse_named(cx, "activation", "activation_params")
    }

    /// Like [`Activation::parse`] from the attributes `attr` / `params_attr` (fused ops with
    /// more than one activation).
    pub fn parse_named(cx: &BuildCtx, attr: &str, params_attr: &str) -> Result<Activation> {
        let Some(name) = cx.string_opt(attr)? else { return Ok(Activation::None) };
        let p = cx.floats_opt(params_attr)?.unwrap_or_default();
        let need = |n: usize| -> Result<()> {
            if p.len() < n {
                return Err(Error::Attr {
                    attr: params_attr.into(),
                    msg: format!("activation {name} needs {n} parameters, got {}", p.len()),
                });
            }
            Ok(())
        };
        Ok(match name.as_str() {
            "" | "None" | "Identity" => Activation::None,
            "Relu" => Activation::Relu,
            "LeakyRelu" => Activation::LeakyRelu(p.first().copied().unwrap_or(0.01)),
            "Clip" => {
                need(2)?;
                Activation::Clip(p[0], p[1])
            }
            "Sigmoid" => Activation::Sigmoid,
            "HardSigmoid" => {
                Activation::HardSigmoid(p.first().copied().unwrap_or(0.2), p.get(1).copied().unwrap_or(0.5))
            }
            "HardSwish" => Activation::HardSwish,
            "Tanh" => Activation::Tanh,
            "Silu" | "Swish" => Activation::Silu,
            "Gelu" => Activation::Gelu,
            "GeluTanh" => Activation::GeluTanh,
            other => return Err(Error::Attr { attr: attr.into(), msg: format!("unknown activation {other:?}") }),
        })
    }

    /// The `(activation, activation_params)` attribute values that [`Activation::parse`] reads back.
    pub fn to_attrs(&self) -> Option<(&'static str, Vec<f32>)> {
        Some(match *self {
            Activation::None => return None,
            Activation::Relu => ("Relu", vec![]),
            Activation::LeakyRelu(a) => ("LeakyRelu", vec![a]),
            Activation::Clip(lo, hi) => ("Clip", vec![lo, hi]),
            Activation::Sigmoid => ("Sigmoid", vec![]),
            Activation::HardSigmoid(a, b) => ("HardSigmoid", vec![a, b]),
            Activation::HardSwish => ("HardSwish", vec![]),
            Activation::Tanh => ("Tanh", vec![]),
            Activation::Silu => ("Silu", vec![]),
            Activation::Gelu => ("Gelu", vec![]),
            Activation::GeluTanh => ("GeluTanh", vec![]),
        })
    }

    /// The activation of one value, computed in f64 (the reference).
    pub fn eval(&self, x: f64) -> f64 {
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        match *self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu(a) => {
                if x < 0.0 {
                    a as f64 * x
                } else {
                    x
                }
            }
            Activation::Clip(lo, hi) => x.max(lo as f64).min(hi as f64),
            Activation::Sigmoid => sigmoid(x),
            Activation::HardSigmoid(a, b) => (a as f64 * x + b as f64).clamp(0.0, 1.0),
            Activation::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Activation::Tanh => x.tanh(),
            Activation::Silu => x * sigmoid(x),
            Activation::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            Activation::GeluTanh => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
        }
    }

    /// How a kernel that clamps in registers applies this activation, as `(lo, hi, post)`:
    /// `None`, `Relu` and `Clip` become the clamp bounds with no pass afterwards; any other
    /// activation leaves the bounds open and runs as `post` over the stored outputs.
    pub fn clamp_or_post(&self) -> (f32, f32, Option<crate::simd::UnaryFn>) {
        match *self {
            Activation::None => (f32::NEG_INFINITY, f32::INFINITY, None),
            Activation::Relu => (0.0, f32::INFINITY, None),
            Activation::Clip(lo, hi) => (lo, hi, None),
            other => (f32::NEG_INFINITY, f32::INFINITY, other.simd_f32()),
        }
    }

    /// The vector kernel of this activation (`None` for the identity).
    pub fn simd_f32(&self) -> Option<crate::simd::UnaryFn> {
        use crate::simd::UnaryFn as F;
        Some(match *self {
            Activation::None => return None,
            Activation::Relu => F::Relu,
            Activation::LeakyRelu(a) => F::LeakyRelu(a),
            Activation::Clip(lo, hi) => F::Clip(lo, hi),
            Activation::Sigmoid => F::Sigmoid,
            Activation::HardSigmoid(a, b) => F::HardSigmoid(a, b),
            Activation::HardSwish => F::HardSwish,
            Activation::Tanh => F::Tanh,
            Activation::Silu => F::Silu,
            Activation::Gelu => F::Gelu,
            Activation::GeluTanh => F::GeluTanh,
        })
    }

    /// Applies the activation in place to an f32 buffer (vector kernels of `crate::simd`,
    /// within a few ulp of [`Activation::eval`]; split over threads when large).
    pub fn apply_f32(&self, xs: &mut [f32]) {
        if let Some(f) = self.simd_f32() {
            crate::simd::par_map_inplace(f, xs);
        }
    }

    /// Applies the activation to a float tensor (any float dtype; f16/bf16/f64 via f64).
    pub fn apply(&self, t: Tensor) -> Result<Tensor> {
        if *self == Activation::None {
            return Ok(t);
        }
        match t.dtype() {
            DType::F32 => {
                let mut t = t;
                self.apply_f32(t.as_mut_slice::<f32>()?);
                Ok(t)
            }
            DType::F64 | DType::F16 | DType::BF16 => {
                let dt = t.dtype();
                let v: Vec<f64> = t.to_f64_vec().into_iter().map(|x| self.eval(x)).collect();
                Tensor::from_vec(t.shape().to_vec(), v)?.cast(dt)
            }
            dt => Err(Error::UnsupportedDType { op: "fused activation".into(), dtype: dt }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_f32_matches_f64_eval() {
        let xs: Vec<f32> = (0..8001).map(|i| -12.0 + i as f32 * 0.003).collect();
        let acts = [
            Activation::Relu,
            Activation::LeakyRelu(0.2),
            Activation::Clip(-1.0, 6.0),
            Activation::Sigmoid,
            Activation::HardSigmoid(0.2, 0.5),
            Activation::HardSwish,
            Activation::Tanh,
            Activation::Silu,
            Activation::Gelu,
            Activation::GeluTanh,
        ];
        for act in acts {
            let mut ys = xs.clone();
            act.apply_f32(&mut ys);
            for (&x, &y) in xs.iter().zip(&ys) {
                let want = act.eval(x as f64);
                assert!((y as f64 - want).abs() <= 1e-6 * want.abs() + 1e-7, "{act:?}({x}) = {y}, want {want}");
            }
        }
    }
}
