//! Operator family: nn (convolution, pooling, normalization, resize).

use crate::ops::Registry;

pub mod affine_grid;
pub mod batch_norm;
pub mod col2im;
pub mod common;
pub mod conv;
pub mod conv_integer;
pub mod conv_kernels;
pub mod conv_transpose;
pub mod deform_conv;
pub mod global_pool;
pub mod grid_sample;
pub mod group_norm;
pub mod instance_norm;
pub mod layer_norm;
pub mod lp_norm;
pub mod lrn;
pub mod max_unpool;
pub mod mvn;
pub mod pool;
pub mod resize;
pub mod rms_norm;
pub mod roi_align;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("Conv", 1, conv::build);
    r.add("ConvTranspose", 1, conv_transpose::build);
    r.add("MaxPool", 1, pool::build_max);
    r.add("AveragePool", 1, pool::build_average);
    r.add("LpPool", 1, pool::build_lp);
    r.add("GlobalAveragePool", 1, global_pool::build_average);
    r.add("GlobalMaxPool", 1, global_pool::build_max);
    r.add("GlobalLpPool", 1, global_pool::build_lp);
    r.add("MaxUnpool", 9, max_unpool::build);
    r.add("BatchNormalization", 1, batch_norm::build);
    r.add("LayerNormalization", 17, layer_norm::build);
    r.add("InstanceNormalization", 1, instance_norm::build);
    r.add("GroupNormalization", 18, group_norm::build);
    r.add("RMSNormalization", 23, rms_norm::build);
    r.add("LpNormalization", 1, lp_norm::build);
    r.add("MeanVarianceNormalization", 9, mvn::build);
    r.add("LRN", 1, lrn::build);
    r.add("ConvInteger", 10, conv_integer::build);
    r.add("QLinearConv", 10, conv_integer::build_qlinear);
    r.add("Col2Im", 18, col2im::build);
    r.add("GridSample", 16, grid_sample::build);
    r.add("AffineGrid", 20, affine_grid::build);
    r.add("RoiAlign", 10, roi_align::build);
    r.add("DeformConv", 19, deform_conv::build);
    r.add("Resize", 10, resize::build);
    r.add("Upsample", 1, resize::build_upsample);
}
