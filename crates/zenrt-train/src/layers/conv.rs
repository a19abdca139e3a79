//! `Conv2D`: ONNX Conv with a `[filters, channels, kh, kw]` kernel and a bias, then an activation.

use super::{shape_err, window_out, Activation, EmitCx, Init, LayerImpl, ParamSpec, Size2};
use crate::model::builder::ints;
use serde::{Deserialize, Serialize};
use zenrt_core::Result;

/// Keras padding modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding.
    #[default]
    Valid,
    /// Pad so that the output is `ceil(input / stride)` (extra padding at the end, as Keras does).
    Same,
}

/// 2-D convolution over `channels × height × width` inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2D {
    pub filters: usize,
    pub kernel_size: Size2,
    #[serde(default = "one")]
    pub strides: Size2,
    #[serde(default)]
    pub padding: Padding,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "yes")]
    pub use_bias: bool,
}

pub(crate) fn one() -> Size2 {
    Size2::One(1)
}
pub(crate) fn yes() -> bool {
    true
}

impl Conv2D {
    /// `filters` output channels, a `kernel_size` window, stride 1, valid padding, no activation.
    pub fn new(filters: usize, kernel_size: impl Into<Size2>) -> Conv2D {
        Conv2D {
            filters,
            kernel_size: kernel_size.into(),
            strides: one(),
            padding: Padding::Valid,
            activation: Activation::Linear,
            use_bias: true,
        }
    }
    pub fn activation(mut self, a: Activation) -> Conv2D {
        self.activation = a;
        self
    }
    pub fn strides(mut self, s: impl Into<Size2>) -> Conv2D {
        self.strides = s.into();
        self
    }
    pub fn padding(mut self, p: Padding) -> Conv2D {
        self.padding = p;
        self
    }

    /// (begin, end) padding per spatial axis.
    fn pads(&self, input: &[usize]) -> [[usize; 2]; 2] {
        let (k, s) = (self.kernel_size.hw(), self.strides.hw());
        let mut p = [[0; 2]; 2];
        if self.padding == Padding::Same {
            for a in 0..2 {
                let n = input[1 + a];
                let out = n.div_ceil(s[a].max(1));
                let total = ((out.saturating_sub(1)) * s[a] + k[a]).saturating_sub(n);
                p[a] = [total / 2, total - total / 2];
            }
        }
        p
    }
}

impl LayerImpl for Conv2D {
    fn kind(&self) -> &'static str {
        "conv2d"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let err = |m: String| shape_err("Conv2D", input, m);
        if input.len() != 3 {
            return Err(err("expects channels × height × width (rank 3)".into()));
        }
        let (k, s) = (self.kernel_size.hw(), self.strides.hw());
        if self.filters == 0 || k.contains(&0) || s.contains(&0) {
            return Err(err("filters, kernel size and strides must be positive".into()));
        }
        let p = self.pads(input);
        let mut out = vec![self.filters];
        for a in 0..2 {
            out.push(window_out(input[1 + a], k[a], s[a], p[a][0] + p[a][1]).ok_or_else(|| {
                err(format!("kernel {}×{} is larger than the {}×{} image", k[0], k[1], input[1], input[2]))
            })?);
        }
        Ok(out)
    }
    fn params(&self, input: &[usize]) -> Vec<ParamSpec> {
        let k = self.kernel_size.hw();
        let c = input.first().copied().unwrap_or(0);
        let mut v = vec![ParamSpec::new(
            "kernel",
            vec![self.filters, c, k[0], k[1]],
            Init::GlorotUniform { fan_in: c * k[0] * k[1], fan_out: self.filters * k[0] * k[1] },
        )];
        if self.use_bias {
            v.push(ParamSpec::new("bias", vec![self.filters], Init::Zeros));
        }
        v
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, input: &[usize]) -> Result<String> {
        let p = self.pads(input);
        let (w, bias) = (cx.param("kernel"), cx.param("bias"));
        let mut ins = vec![x, w.as_str()];
        if self.use_bias {
            ins.push(&bias);
        }
        let y = cx.b.op(
            "Conv",
            &ins,
            vec![
                ("kernel_shape", ints(&self.kernel_size.hw())),
                ("strides", ints(&self.strides.hw())),
                ("pads", ints(&[p[0][0], p[1][0], p[0][1], p[1][1]])),
            ],
        )?;
        cx.activate(&y, self.activation)
    }
    fn activation(&self) -> Option<Activation> {
        Some(self.activation)
    }
}
