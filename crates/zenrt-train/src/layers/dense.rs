//! `Dense` (MatMul + Add over the last axis), `Flatten` and `Dropout`.

use super::{conv::yes, shape_err, Activation, EmitCx, Init, LayerImpl, MaskSpec, Mode, ParamSpec};
use serde::{Deserialize, Serialize};
use zenrt_core::{Attr, Result};

/// Fully connected layer over the last axis: `x · kernel + bias`, then an activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    pub units: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "yes")]
    pub use_bias: bool,
}

impl Dense {
    pub fn new(units: usize) -> Dense {
        Dense { units, activation: Activation::Linear, use_bias: true }
    }
    pub fn activation(mut self, a: Activation) -> Dense {
        self.activation = a;
        self
    }
}

impl LayerImpl for Dense {
    fn kind(&self) -> &'static str {
        "dense"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.is_empty() || input.contains(&0) {
            return Err(shape_err("Dense", input, "expects at least one non-empty feature axis"));
        }
        if self.units == 0 {
            return Err(shape_err("Dense", input, "units must be positive"));
        }
        let mut out = input.to_vec();
        let last = out.len() - 1;
        out[last] = self.units;
        Ok(out)
    }
    fn params(&self, input: &[usize]) -> Vec<ParamSpec> {
        let n = input.last().copied().unwrap_or(0);
        let mut v =
            vec![ParamSpec::new("kernel", vec![n, self.units], Init::GlorotUniform { fan_in: n, fan_out: self.units })];
        if self.use_bias {
            v.push(ParamSpec::new("bias", vec![self.units], Init::Zeros));
        }
        v
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, _input: &[usize]) -> Result<String> {
        let w = cx.param("kernel");
        let mut y = cx.b.op("MatMul", &[x, &w], vec![])?;
        if self.use_bias {
            let bias = cx.param("bias");
            y = cx.b.op("Add", &[&y, &bias], vec![])?;
        }
        cx.activate(&y, self.activation)
    }
    fn activation(&self) -> Option<Activation> {
        Some(self.activation)
    }
}

/// Flattens everything after the batch axis.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flatten {}

impl Flatten {
    pub fn new() -> Flatten {
        Flatten {}
    }
}

impl LayerImpl for Flatten {
    fn kind(&self) -> &'static str {
        "flatten"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(vec![input.iter().product()])
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, _input: &[usize]) -> Result<String> {
        cx.b.op("Flatten", &[x], vec![("axis", Attr::Int(1))])
    }
}

/// Inverted dropout: in training, each entry is zeroed with probability `rate` and the rest scaled
/// by 1/(1-rate) (a mask fed per step from the seeded generator); in inference it does nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropout {
    pub rate: f32,
}

impl Dropout {
    pub fn new(rate: f32) -> Dropout {
        Dropout { rate }
    }
}

impl LayerImpl for Dropout {
    fn kind(&self) -> &'static str {
        "dropout"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(shape_err("Dropout", input, format!("rate must be in [0, 1), got {}", self.rate)));
        }
        Ok(input.to_vec())
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, input: &[usize]) -> Result<String> {
        if cx.mode == Mode::Infer || self.rate == 0.0 {
            return Ok(x.to_string());
        }
        let mask = cx.param("mask");
        cx.masks.push(MaskSpec { name: mask.clone(), shape: input.to_vec(), rate: self.rate });
        cx.b.op("Mul", &[x, &mask], vec![])
    }
}
