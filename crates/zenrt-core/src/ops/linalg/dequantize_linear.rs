//! DequantizeLinear: `y = (x - x_zero_point) * x_scale`, per-tensor, per-axis or blocked,
//! computed in float32 like the reference; output type is `output_dtype` or the scale's type.

use super::common::{round_to, tensor_from_f64};
use super::quant_common::param_index;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, DType, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct DequantizeLinear {
    pub axis: i64,
    pub block_size: i64,
    pub output_dtype: Option<DType>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let output_dtype = match cx.int("output_dtype", 0)? {
        0 => None,
        code => Some(
            DType::from_onnx_code(code as i32)
                .filter(|d| d.is_float())
                .ok_or_else(|| Error::Unsupported(format!("DequantizeLinear: output_dtype {code}")))?,
        ),
    };
    Ok(Arc::new(DequantizeLinear { axis: cx.int("axis", 1)?, block_size: cx.int("block_size", 0)?, output_dtype }))
}

impl Op for DequantizeLinear {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "DequantizeLinear")?;
        let scale = input(inputs, 1, "DequantizeLinear")?;
        let zp = opt_input(inputs, 2);
        if !x.dtype().is_int() {
            return Err(Error::UnsupportedDType { op: "DequantizeLinear".into(), dtype: x.dtype() });
        }
        if !scale.dtype().is_float() {
            return Err(Error::UnsupportedDType { op: "DequantizeLinear".into(), dtype: scale.dtype() });
        }
        if let Some(z) = zp {
            if z.dtype() != x.dtype() {
                bail!("DequantizeLinear: zero point type {} differs from input type {}", z.dtype(), x.dtype());
            }
        }
        let sidx = param_index(x.shape(), scale.shape(), self.axis, self.block_size)?;
        let zidx = match zp {
            Some(z) => Some(param_index(x.shape(), z.shape(), self.axis, self.block_size)?),
            None => None,
        };
        let (xv, sv) = (x.to_i64_vec(), scale.to_f64_vec());
        let zv = zp.map(|z| z.to_i64_vec());
        // (x - zp) is computed in float32, then multiplied by the scale (float32 or wider).
        let ct = if scale.dtype() == DType::F64 { DType::F64 } else { DType::F32 };
        let out: Vec<f64> = xv
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let z = match (&zv, &zidx) {
                    (Some(zv), Some(zi)) => zv[zi[i]],
                    _ => 0,
                };
                let d = round_to(DType::F32, round_to(DType::F32, v as f64) - round_to(DType::F32, z as f64));
                round_to(ct, d * sv[sidx[i]])
            })
            .collect();
        tensor_from_f64(self.output_dtype.unwrap_or(scale.dtype()), x.shape().to_vec(), out).map(|t| vec![t])
    }
}
