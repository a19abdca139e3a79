//! Cast (`to`: an ONNX type code since opset 6, a type name such as "FLOAT" before) and
//! CastLike (target type taken from input 1).
//!
//! Conversions follow the spec for the types zenrt has: float→float rounds to nearest,
//! float→int truncates toward zero (saturating, NaN→0; out of range is undefined in ONNX),
//! int→int wraps (two's complement), anything→bool is `!= 0`. Targets zenrt has no dtype for
//! (string, float8, int4, complex...) are refused as unsupported.

use super::common::infer_unary;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

/// Name of an ONNX `TensorProto.DataType` code (for messages and opset < 6 `to` strings).
pub fn onnx_type_name(code: i64) -> &'static str {
    match code {
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        17 => "FLOAT8E4M3FN",
        18 => "FLOAT8E4M3FNUZ",
        19 => "FLOAT8E5M2",
        20 => "FLOAT8E5M2FNUZ",
        21 => "UINT4",
        22 => "INT4",
        23 => "FLOAT4E2M1",
        24 => "FLOAT8E8M0",
        25 => "UINT2",
        26 => "INT2",
        _ => "UNKNOWN",
    }
}

/// The zenrt dtype for an ONNX type code, or an "unsupported" error.
pub fn dtype_of_code(code: i64, op: &str) -> Result<DType> {
    i32::try_from(code)
        .ok()
        .and_then(DType::from_onnx_code)
        .ok_or_else(|| Error::Unsupported(format!("{op} to type {} ({code})", onnx_type_name(code))))
}

/// Reads the `to` attribute: an int code, or (opset < 6) a type name.
pub fn parse_to(cx: &BuildCtx, op: &str) -> Result<DType> {
    match cx.get("to") {
        Some(crate::Attr::String(_)) => {
            let name = cx.string("to", "")?;
            let upper = name.to_ascii_uppercase();
            let code = (1..=26)
                .find(|&c| onnx_type_name(c) == upper)
                .ok_or_else(|| Error::Attr { attr: "to".into(), msg: format!("unknown type name '{name}'") })?;
            dtype_of_code(code, op)
        }
        _ => dtype_of_code(cx.req_int("to")?, op),
    }
}

#[derive(Debug)]
pub struct Cast {
    pub to: DType,
}

pub fn build_cast(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Cast { to: parse_to(cx, "Cast")? }))
}

impl Op for Cast {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![input(inputs, 0, "Cast")?.cast(self.to)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let mut v = infer_unary(inputs, Some(self.to));
        if v.is_empty() {
            v.push(ValueInfo::new("", Some(self.to), None));
        }
        Ok(v)
    }
}

#[derive(Debug)]
pub struct CastLike;

pub fn build_cast_like(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(CastLike))
}

impl Op for CastLike {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "CastLike")?;
        let like = input(inputs, 1, "CastLike")?;
        Ok(vec![x.cast(like.dtype())?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let to = inputs.get(1).and_then(|i| i.info).and_then(|i| i.dtype);
        let shape = inputs.first().and_then(|i| i.info).and_then(|i| i.shape.clone());
        Ok(vec![ValueInfo::new("", to, shape)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(dtype_of_code(1, "Cast").unwrap(), DType::F32);
        assert_eq!(dtype_of_code(16, "Cast").unwrap(), DType::BF16);
        assert!(matches!(dtype_of_code(17, "Cast"), Err(Error::Unsupported(_))));
        assert!(matches!(dtype_of_code(8, "Cast"), Err(Error::Unsupported(_))));
        assert!(matches!(dtype_of_code(1 << 40, "Cast"), Err(Error::Unsupported(_))));
    }

    fn ctx_with(attrs: &crate::Attrs, opset: i64) -> BuildCtx<'_> {
        BuildCtx { node_name: "n", op_type: "Cast", attrs, opset, n_inputs: 1, n_outputs: 1 }
    }

    #[test]
    fn to_attribute_forms() {
        let mut attrs = crate::Attrs::new();
        attrs.insert("to".into(), crate::Attr::String(b"INT64".to_vec()));
        assert_eq!(parse_to(&ctx_with(&attrs, 1), "Cast").unwrap(), DType::I64);
        attrs.insert("to".into(), crate::Attr::Int(10));
        assert_eq!(parse_to(&ctx_with(&attrs, 13), "Cast").unwrap(), DType::F16);
        attrs.insert("to".into(), crate::Attr::String(b"NOPE".to_vec()));
        assert!(parse_to(&ctx_with(&attrs, 1), "Cast").is_err());
        attrs.clear();
        assert!(parse_to(&ctx_with(&attrs, 13), "Cast").is_err());
    }
}
