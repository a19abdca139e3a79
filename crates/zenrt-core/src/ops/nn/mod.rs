//! Operator family: nn (convolution, pooling, normalization, resize).

use crate::ops::Registry;

pub mod common;
pub mod conv;
pub mod conv_transpose;
pub mod global_pool;
pub mod max_unpool;
pub mod pool;

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
}
