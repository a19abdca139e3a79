//! The value messages of ONNX's `onnx-data.proto` (`SequenceProto`, `OptionalProto`) that test
//! data uses for sequence and optional inputs/outputs, and a reader turning such files into
//! [`Value`]s. Only the fields zenrt can represent are declared (maps and sparse tensors are
//! skipped by the decoder).

use crate::onnx_proto::TensorProto;
use crate::tensor::tensor_from_proto;
use prost::Message;
use std::path::Path;
use std::sync::Arc;
use zenrt_core::{Error, Result, Tensor, Value, ValueKind};

/// `SequenceProto.DataType` / `OptionalProto.DataType` values.
pub mod elem_type {
    pub const UNDEFINED: i32 = 0;
    pub const TENSOR: i32 = 1;
    pub const SPARSE_TENSOR: i32 = 2;
    pub const SEQUENCE: i32 = 3;
    pub const MAP: i32 = 4;
    pub const OPTIONAL: i32 = 5;
}

/// A sequence of values of one type.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SequenceProto {
    #[prost(string, optional, tag = "1")]
    pub name: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(int32, optional, tag = "2")]
    pub elem_type: ::core::option::Option<i32>,
    #[prost(message, repeated, tag = "3")]
    pub tensor_values: ::prost::alloc::vec::Vec<TensorProto>,
    #[prost(message, repeated, tag = "5")]
    pub sequence_values: ::prost::alloc::vec::Vec<SequenceProto>,
    #[prost(message, repeated, tag = "7")]
    pub optional_values: ::prost::alloc::vec::Vec<OptionalProto>,
}

/// A value that may be absent.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OptionalProto {
    #[prost(string, optional, tag = "1")]
    pub name: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(int32, optional, tag = "2")]
    pub elem_type: ::core::option::Option<i32>,
    #[prost(message, optional, tag = "3")]
    pub tensor_value: ::core::option::Option<TensorProto>,
    #[prost(message, optional, boxed, tag = "5")]
    pub sequence_value: ::core::option::Option<::prost::alloc::boxed::Box<SequenceProto>>,
    #[prost(message, optional, boxed, tag = "7")]
    pub optional_value: ::core::option::Option<::prost::alloc::boxed::Box<OptionalProto>>,
}

fn unsupported(what: &str) -> Error {
    Error::Unsupported(format!("{what} values are not supported"))
}

/// A SequenceProto as a sequence of tensors (sequences of sequences/optionals/maps are refused).
pub fn sequence_from_proto(sp: &SequenceProto, base: Option<&Path>) -> Result<Value> {
    let et = sp.elem_type.unwrap_or(elem_type::UNDEFINED);
    let nested = !sp.sequence_values.is_empty() || !sp.optional_values.is_empty();
    if nested || !matches!(et, elem_type::UNDEFINED | elem_type::TENSOR) {
        return Err(unsupported(match et {
            elem_type::SEQUENCE => "sequence-of-sequence",
            elem_type::OPTIONAL => "sequence-of-optional",
            elem_type::MAP => "sequence-of-map",
            elem_type::SPARSE_TENSOR => "sequence-of-sparse-tensor",
            _ => "nested sequence",
        }));
    }
    let ts: Vec<Tensor> = sp.tensor_values.iter().map(|t| tensor_from_proto(t, base)).collect::<Result<_>>()?;
    Ok(Value::Sequence(Arc::new(ts)))
}

/// An OptionalProto as an optional value (empty when it holds nothing).
pub fn optional_from_proto(op: &OptionalProto, base: Option<&Path>) -> Result<Value> {
    let inner = match op.elem_type.unwrap_or(elem_type::UNDEFINED) {
        elem_type::TENSOR | elem_type::UNDEFINED if op.tensor_value.is_some() => {
            op.tensor_value.as_ref().map(|t| tensor_from_proto(t, base).map(Value::from)).transpose()?
        }
        elem_type::SEQUENCE | elem_type::UNDEFINED if op.sequence_value.is_some() => {
            op.sequence_value.as_deref().map(|s| sequence_from_proto(s, base)).transpose()?
        }
        elem_type::OPTIONAL if op.optional_value.is_some() => return Err(unsupported("optional-of-optional")),
        elem_type::MAP | elem_type::SPARSE_TENSOR => return Err(unsupported("optional map/sparse tensor")),
        _ => None,
    };
    Ok(Value::Optional(inner.map(Box::new)))
}

/// Decodes a serialized value of the given kind: a TensorProto, a SequenceProto or an
/// OptionalProto. Returns its name (may be empty) and value.
pub fn value_from_bytes(bytes: &[u8], kind: ValueKind, what: &str, base: Option<&Path>) -> Result<(String, Value)> {
    let derr = |e: prost::DecodeError| Error::Decode { what: what.to_string(), msg: e.to_string() };
    let ctx = |e: Error| e.context(what.to_string());
    match kind {
        ValueKind::Tensor => {
            let tp = TensorProto::decode(bytes).map_err(derr)?;
            let t = tensor_from_proto(&tp, base).map_err(ctx)?;
            Ok((tp.name.unwrap_or_default(), Value::from(t)))
        }
        ValueKind::Sequence => {
            let sp = SequenceProto::decode(bytes).map_err(derr)?;
            let v = sequence_from_proto(&sp, base).map_err(ctx)?;
            Ok((sp.name.unwrap_or_default(), v))
        }
        ValueKind::Optional | ValueKind::OptionalSequence => {
            let op = OptionalProto::decode(bytes).map_err(derr)?;
            let v = optional_from_proto(&op, base).map_err(ctx)?;
            Ok((op.name.unwrap_or_default(), v))
        }
    }
}

/// Reads a serialized value file (the `input_0.pb` files of ONNX test data) of the kind the
/// model declares for it (`kind_hint`): TensorProto, SequenceProto or OptionalProto.
pub fn read_value_file(path: &Path, kind_hint: ValueKind) -> Result<(String, Value)> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    value_from_bytes(&bytes, kind_hint, &path.display().to_string(), path.parent())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_to_proto;

    fn tp(v: &[f32]) -> TensorProto {
        tensor_to_proto("", &Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap())
    }

    #[test]
    fn sequences_and_optionals_decode() {
        let sp = SequenceProto {
            name: Some("s".into()),
            elem_type: Some(elem_type::TENSOR),
            tensor_values: vec![tp(&[1.0]), tp(&[2.0, 3.0])],
            ..Default::default()
        };
        let (name, v) = value_from_bytes(&sp.encode_to_vec(), ValueKind::Sequence, "t", None).unwrap();
        assert_eq!(name, "s");
        let s = v.as_sequence().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].as_slice::<f32>().unwrap(), [2.0, 3.0]);

        let op = OptionalProto {
            elem_type: Some(elem_type::SEQUENCE),
            sequence_value: Some(Box::new(sp.clone())),
            ..Default::default()
        };
        let (_, v) = value_from_bytes(&op.encode_to_vec(), ValueKind::OptionalSequence, "t", None).unwrap();
        assert!(matches!(&v, Value::Optional(Some(b)) if b.as_sequence().unwrap().len() == 2));

        // an empty optional keeps its elem_type but holds nothing
        let empty = OptionalProto { elem_type: Some(elem_type::TENSOR), ..Default::default() };
        let (_, v) = value_from_bytes(&empty.encode_to_vec(), ValueKind::Optional, "t", None).unwrap();
        assert_eq!(v, Value::Optional(None));

        let nested =
            SequenceProto { elem_type: Some(elem_type::SEQUENCE), sequence_values: vec![sp], ..Default::default() };
        let e = value_from_bytes(&nested.encode_to_vec(), ValueKind::Sequence, "t", None).unwrap_err();
        assert!(matches!(e.root(), Error::Unsupported(_)), "{e}");
        assert!(value_from_bytes(&[0xff, 0xff], ValueKind::Optional, "t", None).is_err());
    }
}
