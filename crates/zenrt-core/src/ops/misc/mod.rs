//! Operator family: misc (detection, signal processing, sampling, training, ai.onnx.ml).

use crate::ops::Registry;

pub mod common;
pub mod nms;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("NonMaxSuppression", 10, nms::build);
}
