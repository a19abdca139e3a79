//! Operator family: tensor shape and data movement (reshape, gather, slice, pad, ...).

use crate::ops::Registry;

pub mod constant;
pub mod identity;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("Identity", 1, identity::build);
    r.add("Constant", 1, constant::build);
}
