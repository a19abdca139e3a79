//! QuantizeLinear: `y = saturate(round_half_even(x / y_scale) + y_zero_point)`, per-tensor,
//! per-axis or blocked. Output type: the zero point's type, else `output_dtype`, else uint8.
//! Supported quantized types: uint8, int8, uint16, int16 (float8/int4/int2 are unsupported dtypes).

use super::common::{round_to, tensor_from_i64};
use super::quant_common::{param_index, promote, quant_range};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, DType, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct QuantizeLinear {
    pub axis: i64,
    pub block_size: i64,
    pub output_dtype: Option<DType>,
    pub precision: Option<DType>,
}

fn dtype_attr(cx: &BuildCtx, name: &str) -> Result<Option<DType>> {
    match cx.int(name, 0)? {
        0 => Ok(None),
        code => DType::from_onnx_code(code as i32)
            .map(Some)
            .ok_or_else(|| Error::Unsupported(format!("{}: {name} type {code} is not supported", cx.op_type))),
    }
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(QuantizeLinear {
        axis: cx.int("axis", 1)?,
        block_size: cx.int("block_size", 0)?,
        output_dtype: dtype_attr(cx, "output_dtype")?,
        precision: dtype_attr(cx, "precision")?,
    }))
}

impl Op for QuantizeLinear {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "QuantizeLinear")?;
        let scale = input(inputs, 1, "QuantizeLinear")?;
        let zp = opt_input(inputs, 2);
        let out_dt = match (zp, self.output_dtype) {
            (Some(z), Some(o)) if z.dtype() != o => {
                bail!("QuantizeLinear: output_dtype {o} differs from zero point type {}", z.dtype())
            }
            (Some(z), _) => z.dtype(),
            (None, Some(o)) => o,
            (None, None) => DType::U8,
        };
        if out_dt == DType::I32 {
            return Err(Error::Unsupported("QuantizeLinear to int32".into()));
        }
        let (lo, hi) = quant_range(out_dt)?;
        let sidx = param_index(x.shape(), scale.shape(), self.axis, self.block_size)?;
        let zidx = match zp {
            Some(z) => Some(param_index(x.shape(), z.shape(), self.axis, self.block_size)?),
            None => None,
        };
        // numpy computes x / scale in the promoted type (or in `precision`).
        let ct = self.precision.unwrap_or_else(|| promote(x.dtype(), scale.dtype()));
        let (xv, sv) = (x.to_f64_vec(), scale.to_f64_vec());
        let zv = zp.map(|z| z.to_i64_vec());
        let mut out = Vec::with_capacity(xv.len());
        for (i, &v) in xv.iter().enumerate() {
            let q = round_to(ct, round_to(ct, v) / round_to(ct, sv[sidx[i]])).round_ties_even();
            let z = match (&zv, &zidx) {
                (Some(zv), Some(zi)) => zv[zi[i]],
                _ => 0,
            };
            let q = if q.is_nan() { 0.0 } else { q.clamp(i32::MIN as f64, i32::MAX as f64) };
            out.push((q as i64 + z).clamp(lo, hi));
        }
        Ok(vec![tensor_from_i64(out_dt, x.shape().to_vec(), out)?])
    }
}
