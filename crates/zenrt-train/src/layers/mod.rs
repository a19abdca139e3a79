//! Layers of a [`crate::model::Sequential`] model. Each layer knows, from its input shape (batch
//! dimension excluded), its output shape (checked when the layer is added), its parameters and how
//! to write itself as ordinary ONNX nodes, in a training variant and an inference variant.
//!
//! Layouts follow ONNX, not Keras: images are `channels × height × width`, sequences are
//! `time × features` (the batch dimension always comes first).

use crate::model::builder::GraphBuilder;
use serde::{Deserialize, Serialize};
use zenrt_core::{Error, Result};

mod activation;
mod conv;
mod dense;
mod embedding;
mod norm;
mod pool;
mod recurrent;

pub use activation::{Activation, ActivationLayer};
pub use conv::{Conv2D, Padding};
pub use dense::{Dense, Dropout, Flatten};
pub use embedding::Embedding;
pub use norm::BatchNormalization;
pub use pool::{AveragePooling2D, MaxPooling2D};
pub use recurrent::{Gru, Lstm};

/// One or two sizes (`3` or `[3, 3]` in a config file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size2 {
    One(usize),
    Two([usize; 2]),
}

impl Size2 {
    /// (height, width).
    pub fn hw(self) -> [usize; 2] {
        match self {
            Size2::One(k) => [k, k],
            Size2::Two(k) => k,
        }
    }
}

impl From<usize> for Size2 {
    fn from(k: usize) -> Size2 {
        Size2::One(k)
    }
}

impl From<(usize, usize)> for Size2 {
    fn from(k: (usize, usize)) -> Size2 {
        Size2::Two([k.0, k.1])
    }
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Zeros,
    Ones,
    /// Glorot/Xavier uniform: U(±sqrt(6 / (fan_in + fan_out))) (Keras' default for kernels).
    GlorotUniform {
        fan_in: usize,
        fan_out: usize,
    },
    /// U(-a, a).
    Uniform(f32),
}

/// A parameter a layer owns.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Name within the layer (`kernel`, `bias`, `gamma`, `moving_mean`...).
    pub suffix: &'static str,
    pub shape: Vec<usize>,
    pub init: Init,
    /// Updated by the optimizer (false for statistics such as a BatchNormalization's moving mean).
    pub trainable: bool,
}

impl ParamSpec {
    pub(crate) fn new(suffix: &'static str, shape: Vec<usize>, init: Init) -> ParamSpec {
        ParamSpec { suffix, shape, init, trainable: true }
    }
}

/// Which graph is being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The training graph: dropout masks are inputs, batch normalization uses batch statistics.
    Train,
    /// The inference graph (predict, evaluate, export): no dropout, running statistics.
    Infer,
}

/// A dropout mask the training step must feed: input `name`, shape `[batch] + shape`, entries
/// 0 or 1/(1-rate).
#[derive(Clone, Debug, PartialEq)]
pub struct MaskSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub rate: f32,
}

/// Batch statistics a BatchNormalization layer computes in training: graph values `mean`/`var`
/// (shape `[1, C, 1...]`) fold into parameters `moving_mean`/`moving_var` with `momentum`.
#[derive(Clone, Debug, PartialEq)]
pub struct BnStat {
    pub mean: String,
    pub var: String,
    pub moving_mean: String,
    pub moving_var: String,
    pub momentum: f32,
}

/// What a layer writes into: the graph, the mode, its parameter prefix, and what it asks of the
/// training loop (masks to feed, statistics to fold).
pub struct EmitCx<'a> {
    pub b: &'a mut GraphBuilder,
    pub mode: Mode,
    /// The layer's name; its parameters are graph inputs `{prefix}.{suffix}`.
    pub prefix: String,
    /// When set, the layer leaves out its activation (the loss applies it, e.g. softmax folded
    /// into cross-entropy from logits).
    pub skip_activation: bool,
    pub masks: Vec<MaskSpec>,
    pub bn_stats: Vec<BnStat>,
}

impl EmitCx<'_> {
    /// The graph value holding this layer's parameter `suffix`.
    pub fn param(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    /// Applies `act` to `x` (unless this is the last layer and the loss takes over).
    pub fn activate(&mut self, x: &str, act: Activation) -> Result<String> {
        if self.skip_activation {
            return Ok(x.to_string());
        }
        act.emit(self.b, x)
    }
}

/// What every layer implements.
pub trait LayerImpl {
    /// Keras-style kind (`conv2d`, `dense`...), also the stem of parameter names.
    fn kind(&self) -> &'static str;
    /// Output shape (batch excluded) for `input`, or a clear error when the layer does not fit.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>>;
    /// Parameters for `input`.
    fn params(&self, _input: &[usize]) -> Vec<ParamSpec> {
        vec![]
    }
    /// Writes the layer; returns the name of its output value.
    fn emit(&self, cx: &mut EmitCx, x: &str, input: &[usize]) -> Result<String>;
    /// The activation applied last, if any (lets softmax/sigmoid fold into the loss).
    fn activation(&self) -> Option<Activation> {
        None
    }
    /// The input must hold int64 indices (Embedding).
    fn wants_indices(&self) -> bool {
        false
    }
}

/// Any layer: what a model holds and what a config file lists (`type = "conv2d"`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Layer {
    Conv2d(Conv2D),
    MaxPooling2d(MaxPooling2D),
    AveragePooling2d(AveragePooling2D),
    Flatten(Flatten),
    Dense(Dense),
    Dropout(Dropout),
    BatchNormalization(BatchNormalization),
    Embedding(Embedding),
    Lstm(Lstm),
    Gru(Gru),
    Activation(ActivationLayer),
}

impl Layer {
    /// The implementation behind this layer.
    pub fn imp(&self) -> &dyn LayerImpl {
        match self {
            Layer::Conv2d(l) => l,
            Layer::MaxPooling2d(l) => l,
            Layer::AveragePooling2d(l) => l,
            Layer::Flatten(l) => l,
            Layer::Dense(l) => l,
            Layer::Dropout(l) => l,
            Layer::BatchNormalization(l) => l,
            Layer::Embedding(l) => l,
            Layer::Lstm(l) => l,
            Layer::Gru(l) => l,
            Layer::Activation(l) => l,
        }
    }
}

macro_rules! into_layer {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for Layer {
            fn from(l: $t) -> Layer {
                Layer::$v(l)
            }
        }
    )*};
}
into_layer!(Conv2D => Conv2d, MaxPooling2D => MaxPooling2d, AveragePooling2D => AveragePooling2d, Flatten => Flatten,
    Dense => Dense, Dropout => Dropout, BatchNormalization => BatchNormalization, Embedding => Embedding,
    Lstm => Lstm, Gru => Gru, ActivationLayer => Activation);

/// "layer conv2d_1 (input [64]): ..." errors.
pub(crate) fn shape_err(kind: &str, input: &[usize], msg: impl std::fmt::Display) -> Error {
    Error::Shape(format!("{kind} layer does not fit its input of shape {input:?} (batch excluded): {msg}"))
}

/// Output length of a window of `k` with stride `s` over `n` after padding `pad`.
pub(crate) fn window_out(n: usize, k: usize, s: usize, pad: usize) -> Option<usize> {
    (n + pad).checked_sub(k).map(|r| r / s.max(1) + 1)
}
