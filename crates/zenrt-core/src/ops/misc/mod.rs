//! Operator family: misc (detection, signal processing, sampling, training, ai.onnx.ml).

use crate::ops::Registry;

pub mod affine_grid;
pub mod col2im;
pub mod common;
pub mod deform_conv;
pub mod dft;
pub mod grid_sample;
pub mod mel_weight_matrix;
pub mod nms;
pub mod roi_align;
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
    r.add("GridSample", 16, grid_sample::build);
    r.add("AffineGrid", 20, affine_grid::build);
    r.add("RoiAlign", 10, roi_align::build);
    r.add("Col2Im", 18, col2im::build);
    r.add("DeformConv", 19, deform_conv::build);
}
