//! zenrt training: the loop model → forward → loss → backward → optimizer.
//!
//! - [`autodiff`]: reverse-mode differentiation of a [`zenrt_core::Graph`] into a graph that also
//!   computes gradients, so training runs through the same passes, planner and kernels.
//! - [`loss`]: losses appended to a forward graph as ordinary nodes.
//! - [`metrics`]: accuracy (sparse, categorical, binary).
//! - [`optim`]: optimizers (SGD, Adam, AdamW, RMSprop) and learning-rate schedules.
//! - [`step`]: a compiled training step (forward + loss + backward) run batch after batch.
//! - [`model`]: the Keras-like `Sequential` API (layers, compile, fit, evaluate, predict).

pub mod autodiff;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod step;

pub mod model;
