//! compile / fit / evaluate (waiting for the training step).

/// What `compile` set up.
pub struct Compiled;

/// Options of `fit`.
#[derive(Clone, Debug)]
pub struct FitOptions;

/// Per-epoch metrics.
#[derive(Clone, Debug, Default)]
pub struct History;
