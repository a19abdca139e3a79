//! Operator family: sequences and optionals (SequenceConstruct, SequenceAt, SplitToSequence,
//! SequenceMap, Optional...). These operators take or produce non-tensor values, so they
//! implement [`crate::ops::Op::run_values`]; their tensor-only `run` refuses.

use crate::ops::Registry;

pub mod common;

pub mod concat_from_sequence;
pub mod optional;
pub mod optional_get_element;
pub mod optional_has_element;
pub mod sequence_at;
pub mod sequence_construct;
pub mod sequence_empty;
pub mod sequence_erase;
pub mod sequence_insert;
pub mod sequence_length;
pub mod sequence_map;
pub mod split_to_sequence;

#[cfg(test)]
mod tests;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("SequenceEmpty", 11, sequence_empty::build);
    r.add("SequenceConstruct", 11, sequence_construct::build);
    r.add("SequenceInsert", 11, sequence_insert::build);
    r.add("SequenceAt", 11, sequence_at::build);
    r.add("SequenceErase", 11, sequence_erase::build);
    r.add("SequenceLength", 11, sequence_length::build);
    r.add("SplitToSequence", 11, split_to_sequence::build);
    r.add("ConcatFromSequence", 11, concat_from_sequence::build);
    r.add("SequenceMap", 17, sequence_map::build);
    r.add("Optional", 15, optional::build);
    r.add("OptionalHasElement", 15, optional_has_element::build);
    r.add("OptionalGetElement", 15, optional_get_element::build);
}
