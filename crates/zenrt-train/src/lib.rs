//! zenrt training: the loop model → forward → loss → backward → optimizer.
//!
//! - [`autodiff`]: reverse-mode differentiation of a [`zenrt_core::Graph`] into a graph that also
//!   computes gradients, so training runs through the same passes, planner and kernels.
//! - [`loss`]: losses appended to a forward graph as ordinary nodes.
//! - [`metrics`]: accuracy (sparse, categorical, binary).
//! - [`optim`]: optimizers (SGD, Adam, AdamW, RMSprop) and learning-rate schedules.
//! - [`step`]: a compiled training step (forward + loss + backward) run batch after batch.
//! - [`model`]: the Keras-like `Sequential` API (compile, fit, evaluate, predict, safetensors
//!   weights, ONNX export) over the [`layers`]; [`data`] loads .npy/.npz/CSV.

pub mod autodiff;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod step;

pub mod config;
pub mod data;
pub mod finetune;
pub mod layers;
pub mod model;
pub mod plot;
pub mod rng;

pub use layers::{
    Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Embedding, Flatten, Gru, Layer, Lstm,
    MaxPooling2D, Padding,
};
pub use model::{FitOptions, History, Network, Sequential};
