//! Buffer allocation for kernels. Kernels take their output storage from [`alloc`] instead of
//! `vec![0; n]`, so that the executor can hand them recycled buffers from its pool (planned
//! lifetimes: a warm run allocates nothing new on the hot path).
//!
//! Today this is a plain allocation; the planner's pool plugs in here without any kernel change.

use crate::Elem;

/// A zero-filled buffer of `n` elements for a kernel's output.
pub fn alloc<T: Elem>(n: usize) -> Vec<T> {
    vec![T::zero(); n]
}

/// A buffer of `n` elements whose contents the caller overwrites entirely before reading.
/// (Currently zero-filled too; a pooled buffer may hold stale data, never uninitialised memory.)
pub fn alloc_for_overwrite<T: Elem>(n: usize) -> Vec<T> {
    vec![T::zero(); n]
}
