//! Operator family: sequences and optionals (SequenceConstruct, SequenceAt, SplitToSequence, Optional...).

use crate::ops::Registry;

/// Registers this family's operators.
pub fn register(_r: &mut Registry) {}
