//! ConvInteger and QLinearConv: quantized convolutions. Zero points are subtracted first
//! (padding then contributes zero), the convolution runs in f64 — exact for 8-bit operands
//! since every partial sum stays far below 2^53 — and QLinearConv requantizes with
//! round-half-to-even and saturation.

use super::common::Window;
use super::conv::{conv_typed, parse_group, ConvShape};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, ensure, DType, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct ConvInteger {
    pub win: Window,
    pub group: usize,
    /// QLinearConv (else ConvInteger).
    pub qlinear: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ConvInteger { win: Window::parse(cx, false)?, group: parse_group(cx)?, qlinear: false }))
}

pub fn build_qlinear(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ConvInteger { win: Window::parse(cx, false)?, group: parse_group(cx)?, qlinear: true }))
}

fn check_int8(t: &Tensor, what: &str) -> Result<()> {
    ensure!(matches!(t.dtype(), DType::I8 | DType::U8), "{what}: expected int8 or uint8, got {}", t.dtype());
    Ok(())
}

/// Per-tensor (1 value) or per-output-channel (`m` values) parameter.
fn per_channel(v: Vec<f64>, m: usize, what: &str) -> Result<Vec<f64>> {
    match v.len() {
        1 => Ok(vec![v[0]; m]),
        n if n == m => Ok(v),
        n => bail!("{what} has {n} values, expected 1 or {m}"),
    }
}

fn scalar(t: Option<&Tensor>, what: &str) -> Result<f64> {
    match t {
        None => Ok(0.0),
        Some(t) => {
            ensure!(t.len() == 1, "{what} must be a scalar, got shape {:?}", t.shape());
            Ok(t.to_f64_vec()[0])
        }
    }
}

impl ConvInteger {
    /// Integer accumulator of the zero-point-adjusted convolution, as exact f64 values.
    fn accumulate(&self, x: &Tensor, xzp: f64, w: &Tensor, wzp: Option<&Tensor>) -> Result<(ConvShape, Vec<f64>)> {
        check_int8(x, "x")?;
        check_int8(w, "w")?;
        let cs = ConvShape::new(x.shape(), w.shape(), &self.win, self.group)?;
        let m = cs.m;
        let wz = per_channel(wzp.map(|t| t.to_f64_vec()).unwrap_or_else(|| vec![0.0]), m, "w_zero_point")?;
        let xv: Vec<f64> = x.to_f64_vec().into_iter().map(|v| v - xzp).collect();
        let per_m = w.len() / m.max(1);
        let wv: Vec<f64> = w.to_f64_vec().into_iter().enumerate().map(|(i, v)| v - wz[i / per_m.max(1)]).collect();
        let acc = conv_typed::<f64>(&xv, &wv, None, &cs)?;
        Ok((cs, acc))
    }
}

impl Op for ConvInteger {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        if !self.qlinear {
            let x = input(inputs, 0, "ConvInteger")?;
            let w = input(inputs, 1, "ConvInteger")?;
            let xzp = scalar(opt_input(inputs, 2), "x_zero_point")?;
            let (cs, acc) = self.accumulate(x, xzp, w, opt_input(inputs, 3))?;
            let out: Vec<i32> = acc.into_iter().map(|v| v as i32).collect();
            return Ok(vec![Tensor::from_vec(cs.out_shape(), out)?]);
        }
        let x = input(inputs, 0, "QLinearConv")?;
        let xs = scalar(Some(input(inputs, 1, "QLinearConv")?), "x_scale")?;
        let xzp = scalar(opt_input(inputs, 2), "x_zero_point")?;
        let w = input(inputs, 3, "QLinearConv")?;
        let ws = input(inputs, 4, "QLinearConv")?.to_f64_vec();
        let wzp = opt_input(inputs, 5);
        let ys = scalar(Some(input(inputs, 6, "QLinearConv")?), "y_scale")?;
        let yzp_t = opt_input(inputs, 7);
        let yzp = scalar(yzp_t, "y_zero_point")?;
        let out_dt = yzp_t.map(|t| t.dtype()).unwrap_or(x.dtype());
        let (cs, mut acc) = self.accumulate(x, xzp, w, wzp)?;
        let m = cs.m;
        let ws = per_channel(ws, m, "w_scale")?;
        let bias = opt_input(inputs, 8).map(|b| b.to_f64_vec());
        if let Some(b) = &bias {
            ensure!(b.len() == m, "QLinearConv: B has {} values, expected {m}", b.len());
        }
        let plane: usize = cs.geo.out.iter().product();
        let (lo, hi) = if out_dt == DType::U8 { (0.0, 255.0) } else { (-128.0, 127.0) };
        for (i, v) in acc.iter_mut().enumerate() {
            let ch = (i / plane.max(1)) % m;
            let a = *v + bias.as_ref().map_or(0.0, |b| b[ch]);
            *v = ((a * (xs * ws[ch] / ys)).round_ties_even() + yzp).clamp(lo, hi);
        }
        Ok(vec![super::common::from_f64_vec(out_dt, cs.out_shape(), acc)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let (x_i, w_i) = if self.qlinear { (0, 3) } else { (0, 1) };
        let pick = [inputs.get(x_i).copied(), inputs.get(w_i).copied()];
        let Some(first) = pick[0] else {
            return Ok(vec![]);
        };
        let two: Vec<InferInput> = pick.iter().flatten().copied().collect();
        let mut v = super::conv::infer_conv(&self.win, &two, None);
        let dt = if self.qlinear { first.info.and_then(|i| i.dtype) } else { Some(DType::I32) };
        if let Some(o) = v.first_mut() {
            o.dtype = dt;
        }
        Ok(v)
    }
}
