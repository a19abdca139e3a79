//! [`Value`]: what flows along a graph edge — a tensor (almost always), a sequence of
//! tensors, or an optional. Tensors are shared (`Arc`) so passing them around is free.

use crate::{Error, Result, Tensor};
use std::sync::Arc;

/// A runtime value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Tensor(Arc<Tensor>),
    Sequence(Arc<Vec<Tensor>>),
    /// An optional: `None` is the empty optional.
    Optional(Option<Box<Value>>),
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Value {
        Value::Tensor(Arc::new(t))
    }
}

impl Value {
    /// The tensor, or an error naming what this value is instead.
    pub fn as_tensor(&self) -> Result<&Tensor> {
        match self {
            Value::Tensor(t) => Ok(t),
            other => Err(Error::Invalid(format!("expected a tensor, got a {}", other.kind_name()))),
        }
    }

    /// The tensor, cloned only if shared.
    pub fn into_tensor(self) -> Result<Tensor> {
        match self {
            Value::Tensor(t) => Ok(Arc::try_unwrap(t).unwrap_or_else(|a| (*a).clone())),
            other => Err(Error::Invalid(format!("expected a tensor, got a {}", other.kind_name()))),
        }
    }

    /// The sequence's tensors.
    pub fn as_sequence(&self) -> Result<&[Tensor]> {
        match self {
            Value::Sequence(s) => Ok(s),
            other => Err(Error::Invalid(format!("expected a sequence, got a {}", other.kind_name()))),
        }
    }

    /// "tensor", "sequence" or "optional".
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Tensor(_) => "tensor",
            Value::Sequence(_) => "sequence",
            Value::Optional(_) => "optional",
        }
    }
}
