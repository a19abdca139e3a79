//! DynamicQuantizeLinear: uint8 quantization of a float32 tensor with a scale and zero point
//! computed from its range (extended to include 0), in float32 arithmetic like the reference.

use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{DType, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct DynamicQuantizeLinear;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(DynamicQuantizeLinear))
}

/// Quantizes `x`, returning (y, scale, zero_point).
pub fn dynamic_quantize(x: &[f32]) -> (Vec<u8>, f32, u8) {
    let (qmin, qmax) = (0f32, 255f32);
    let maxx = x.iter().copied().fold(0f32, f32::max);
    let minx = x.iter().copied().fold(0f32, f32::min);
    let scale = (if maxx == minx { 1.0 } else { maxx - minx }) / (qmax - qmin);
    let zp = (qmin - minx / scale).clamp(qmin, qmax).round_ties_even();
    let y = x.iter().map(|&v| ((v / scale).round_ties_even() + zp).clamp(qmin, qmax) as u8).collect();
    (y, scale, zp as u8)
}

impl Op for DynamicQuantizeLinear {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "DynamicQuantizeLinear")?;
        if x.dtype() != DType::F32 {
            return Err(Error::UnsupportedDType { op: "DynamicQuantizeLinear".into(), dtype: x.dtype() });
        }
        let (y, scale, zp) = dynamic_quantize(x.as_slice::<f32>()?);
        Ok(vec![Tensor::from_vec(x.shape().to_vec(), y)?, Tensor::scalar(scale), Tensor::scalar(zp)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_spec_example() {
        // From the ONNX DynamicQuantizeLinear test: x = [0, 2, -3, -2.5, 1.34, 0.5]
        let (y, s, z) = dynamic_quantize(&[0.0, 2.0, -3.0, -2.5, 1.34, 0.5]);
        assert!((s - 0.019607844).abs() < 1e-9);
        assert_eq!(z, 153);
        assert_eq!(y, vec![153, 255, 0, 26, 221, 179]);
    }
}
