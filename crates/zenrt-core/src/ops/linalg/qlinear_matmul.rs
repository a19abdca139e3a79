//! QLinearMatMul: quantized matmul. `y = saturate(round((a - a_zp)·(b - b_zp) · a_scale·b_scale
//! / y_scale) + y_zp)`; the integer product is exact, the rescale follows the reference
//! (scale factor in the scales' float type, the rest in f64). Scales/zero points are scalars,
//! per-row of A or per-column of B / Y.

use super::common::{batched_matmul, round_to, tensor_from_i64};
use super::matmul_integer::subtract_zero_point;
use super::quant_common::quant_range;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct QLinearMatMul;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(QLinearMatMul))
}

/// Value of a scalar-or-vector parameter for output row `r` / column `c`.
fn pick(v: &[f64], per_row: bool, r: usize, c: usize) -> f64 {
    match v.len() {
        1 => v[0],
        _ if per_row => v[r % v.len()],
        _ => v[c % v.len()],
    }
}

impl Op for QLinearMatMul {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "QLinearMatMul")?;
        let a_scale = input(inputs, 1, "QLinearMatMul")?;
        let a_zp = opt_input(inputs, 2);
        let b = input(inputs, 3, "QLinearMatMul")?;
        let b_scale = input(inputs, 4, "QLinearMatMul")?;
        let b_zp = opt_input(inputs, 5);
        let y_scale = input(inputs, 6, "QLinearMatMul")?;
        let y_zp = opt_input(inputs, 7);
        for t in [a, b] {
            if !t.dtype().is_int() {
                return Err(Error::UnsupportedDType { op: "QLinearMatMul".into(), dtype: t.dtype() });
            }
        }
        let out_dt = y_zp.map(|z| z.dtype()).unwrap_or(a.dtype());
        let (lo, hi) = quant_range(out_dt)?;
        let av = subtract_zero_point(a, a_zp, true)?;
        let bv = subtract_zero_point(b, b_zp, false)?;
        let (shape, c) = batched_matmul(&av, a.shape(), &bv, b.shape())?;
        let st = a_scale.dtype();
        let (asv, bsv, ysv) = (a_scale.to_f64_vec(), b_scale.to_f64_vec(), y_scale.to_f64_vec());
        let yz = y_zp.map(|z| z.to_f64_vec()).unwrap_or_else(|| vec![0.0]);
        for v in [&asv, &bsv, &ysv, &yz] {
            if v.is_empty() {
                return Err(Error::Shape("QLinearMatMul: empty scale or zero point".into()));
            }
        }
        let n = if b.rank() >= 2 { b.shape()[b.rank() - 1] } else { 1 };
        let m = if a.rank() >= 2 { a.shape()[a.rank() - 2] } else { 1 };
        let out: Vec<i64> = c
            .iter()
            .enumerate()
            .map(|(i, &acc)| {
                let (col, row) = (i % n.max(1), (i / n.max(1)) % m.max(1));
                let f = round_to(
                    st,
                    round_to(st, pick(&asv, true, row, col) * pick(&bsv, false, row, col))
                        / pick(&ysv, false, row, col),
                );
                let d = acc as f64 * f + pick(&yz, false, row, col);
                (d.round_ties_even().clamp(lo as f64, hi as f64)) as i64
            })
            .collect();
        Ok(vec![tensor_from_i64(out_dt, shape, out)?])
    }
}
