//! Helpers shared by the misc family: scalar inputs, float round trips, dtype codes.

use crate::{bail, checked_numel, DType, Error, Result, Tensor};

/// The single value of a scalar (or one-element) input, as f64.
pub fn scalar_f64(t: &Tensor, what: &str) -> Result<f64> {
    match t.to_f64_vec().as_slice() {
        [v] => Ok(*v),
        _ => bail!("{what} must hold exactly one value, got shape {:?}", t.shape()),
    }
}

/// The single value of a scalar (or one-element) integer input.
pub fn scalar_i64(t: &Tensor, what: &str) -> Result<i64> {
    if !t.dtype().is_int() {
        bail!("{what} must be an integer tensor, got {}", t.dtype());
    }
    match t.to_i64_vec().as_slice() {
        [v] => Ok(*v),
        _ => bail!("{what} must hold exactly one value, got shape {:?}", t.shape()),
    }
}

/// Fails unless `t` is a floating point tensor.
pub fn require_float(t: &Tensor, op: &str) -> Result<()> {
    if t.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::UnsupportedDType { op: op.to_string(), dtype: t.dtype() })
    }
}

/// Builds a tensor of `dtype` from f64 values (rounded once at the end).
pub fn from_f64(shape: Vec<usize>, data: Vec<f64>, dtype: DType) -> Result<Tensor> {
    Tensor::from_vec(shape, data)?.cast(dtype)
}

/// Converts an ONNX dtype code (the `output_datatype` style attributes) to a dtype.
pub fn dtype_of_code(code: i64, what: &str) -> Result<DType> {
    i32::try_from(code)
        .ok()
        .and_then(DType::from_onnx_code)
        .ok_or_else(|| Error::Unsupported(format!("{what}: data type code {code}")))
}

/// `checked_numel` for an f64 working buffer.
pub fn check_alloc(shape: &[usize], what: &str) -> Result<usize> {
    checked_numel(shape, DType::F64, what)
}
