//! Operator family: control (If, Loop, Scan). Subgraphs run through `ExecCtx::run_subgraph`;
//! only tensor values are supported (Sequence/Optional typed values are refused).

use crate::ops::Registry;

pub mod common;
pub mod if_op;
pub mod loop_op;
pub mod scan;

#[cfg(test)]
mod tests;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("If", 1, if_op::build);
    r.add("Loop", 1, loop_op::build);
    r.add("Scan", 8, scan::build);
}
