//! [`Value`]: what flows along a graph edge — a tensor (almost always), a sequence of
//! tensors, an optional, or (for ai.onnx.ml models) a string tensor or a sequence of maps.
//! Tensors are shared (`Arc`) so passing them around is free.

use crate::{Error, Result, Tensor};
use std::sync::Arc;

/// A runtime value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Tensor(Arc<Tensor>),
    Sequence(Arc<Vec<Tensor>>),
    /// An optional: `None` is the empty optional.
    Optional(Option<Box<Value>>),
    /// A tensor of strings (class labels of ai.onnx.ml classifiers); [`Tensor`] is numeric only.
    Strings(Arc<StringTensor>),
    /// A sequence of maps that share one key list (ZipMap's output).
    Maps(Arc<MapSeq>),
}

/// A row-major tensor of strings.
#[derive(Clone, Debug, PartialEq)]
pub struct StringTensor {
    pub shape: Vec<usize>,
    pub data: Vec<String>,
}

impl StringTensor {
    /// A string tensor; fails unless `data` has as many strings as `shape` has elements.
    pub fn new(shape: Vec<usize>, data: Vec<String>) -> Result<StringTensor> {
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n != Some(data.len()) {
            return Err(Error::Invalid(format!("{} strings for shape {shape:?}", data.len())));
        }
        Ok(StringTensor { shape, data })
    }
}

/// The keys of a map: int64 or string.
#[derive(Clone, Debug, PartialEq)]
pub enum MapKeys {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl MapKeys {
    pub fn len(&self) -> usize {
        match self {
            MapKeys::Int(k) => k.len(),
            MapKeys::Str(k) => k.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Key `i` as text (for printing).
    pub fn display(&self, i: usize) -> String {
        match self {
            MapKeys::Int(k) => k.get(i).map(|v| v.to_string()).unwrap_or_default(),
            MapKeys::Str(k) => k.get(i).cloned().unwrap_or_default(),
        }
    }
}

/// A sequence of `values.shape()[0]` maps; map `i` sends `keys[j]` to `values[i, j]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MapSeq {
    pub keys: MapKeys,
    /// `[N, keys.len()]`.
    pub values: Tensor,
}

impl MapSeq {
    /// A map sequence; fails unless `values` is `[N, keys.len()]`.
    pub fn new(keys: MapKeys, values: Tensor) -> Result<MapSeq> {
        match values.shape() {
            [_, c] if *c == keys.len() => Ok(MapSeq { keys, values }),
            s => Err(Error::Invalid(format!("map values of shape {s:?} for {} keys", keys.len()))),
        }
    }

    /// How many maps.
    pub fn len(&self) -> usize {
        self.values.shape().first().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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

    /// "tensor", "sequence", "optional", "string tensor" or "sequence of maps".
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Tensor(_) => "tensor",
            Value::Sequence(_) => "sequence",
            Value::Optional(_) => "optional",
            Value::Strings(_) => "string tensor",
            Value::Maps(_) => "sequence of maps",
        }
    }
}
