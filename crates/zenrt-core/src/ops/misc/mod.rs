//! Operator family: misc (detection, signal processing, sampling, training, ai.onnx.ml).

use crate::ops::Registry;

pub mod common;
pub mod dft;
pub mod mel_weight_matrix;
pub mod nms;
pub mod stft;
pub mod window;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("NonMaxSuppression", 10, nms::build);
    r.add("DFT", 17, dft::build);
    r.add("STFT", 17, stft::build);
    r.add("HannWindow", 17, window::build_hann);
    r.add("HammingWindow", 17, window::build_hamming);
    r.add("BlackmanWindow", 17, window::build_blackman);
    r.add("MelWeightMatrix", 17, mel_weight_matrix::build);
}
