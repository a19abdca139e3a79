//! Operator family: nn (convolution, pooling, normalization, resize).

use crate::ops::Registry;

pub mod common;
pub mod conv;
pub mod conv_transpose;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("Conv", 1, conv::build);
    r.add("ConvTranspose", 1, conv_transpose::build);
}
