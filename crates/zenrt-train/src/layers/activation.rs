//! Activations (`activation = "relu"` on a layer, or an `Activation` layer).

use super::{EmitCx, LayerImpl};
use crate::model::builder::GraphBuilder;
use serde::{Deserialize, Serialize};
use zenrt_core::{Attr, Result};

/// The usual activations, each written as one or two ONNX nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// Over the last axis.
    Softmax,
    Elu,
    /// Slope 0.2 for negative inputs (Keras' default).
    LeakyRelu,
    Softplus,
    /// x · sigmoid(x), also called SiLU.
    Swish,
}

impl Activation {
    /// Writes the activation of `x`; returns the output name.
    pub fn emit(self, b: &mut GraphBuilder, x: &str) -> Result<String> {
        match self {
            Activation::Linear => Ok(x.to_string()),
            Activation::Relu => b.op("Relu", &[x], vec![]),
            Activation::Sigmoid => b.op("Sigmoid", &[x], vec![]),
            Activation::Tanh => b.op("Tanh", &[x], vec![]),
            Activation::Softmax => b.op("Softmax", &[x], vec![("axis", Attr::Int(-1))]),
            Activation::Elu => b.op("Elu", &[x], vec![("alpha", Attr::Float(1.0))]),
            Activation::LeakyRelu => b.op("LeakyRelu", &[x], vec![("alpha", Attr::Float(0.2))]),
            Activation::Softplus => b.op("Softplus", &[x], vec![]),
            Activation::Swish => {
                let s = b.op("Sigmoid", &[x], vec![])?;
                b.op("Mul", &[x, &s], vec![])
            }
        }
    }
}

/// A layer that only applies an activation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationLayer {
    pub activation: Activation,
}

impl ActivationLayer {
    pub fn new(activation: Activation) -> ActivationLayer {
        ActivationLayer { activation }
    }
}

impl LayerImpl for ActivationLayer {
    fn kind(&self) -> &'static str {
        "activation"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(input.to_vec())
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, _input: &[usize]) -> Result<String> {
        cx.activate(x, self.activation)
    }
    fn activation(&self) -> Option<Activation> {
        Some(self.activation)
    }
}
