//! Operator family: elementwise math, activations, comparison and logic (numpy broadcasting).

use crate::ops::Registry;

pub mod binary;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("Add", 1, binary::build_add);
    r.add("Sub", 1, binary::build_sub);
    r.add("Mul", 1, binary::build_mul);
    r.add("Div", 1, binary::build_div);
}
