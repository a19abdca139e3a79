//! HannWindow, HammingWindow, BlackmanWindow: 1-D windows of length `size` (scalar input).
//! With `periodic = 1` (default) the denominator is `size`, else `size - 1`. The output type
//! is `output_datatype` (default float). Hamming uses alpha = 25/46 and beta = 21/46, as the
//! onnx reference does. A symmetric window of size 1 is `[1]`.

use super::common::{check_alloc, dtype_of_code, from_f64, scalar_i64};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, DType, Dim, Result, Tensor, ValueInfo};
use std::f64::consts::PI;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Hann,
    Hamming,
    Blackman,
}

#[derive(Debug)]
pub struct Window {
    kind: Kind,
    periodic: bool,
    dtype: DType,
}

fn build(cx: &BuildCtx, kind: Kind) -> Result<Arc<dyn Op>> {
    let dtype = dtype_of_code(cx.int("output_datatype", 1)?, "output_datatype")?;
    Ok(Arc::new(Window { kind, periodic: cx.int("periodic", 1)? != 0, dtype }))
}

pub fn build_hann(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Hann)
}
pub fn build_hamming(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Hamming)
}
pub fn build_blackman(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, Kind::Blackman)
}

/// The window values in f64.
pub fn window(kind: Kind, size: usize, periodic: bool) -> Vec<f64> {
    let denom = if periodic { size } else { size.saturating_sub(1) };
    if denom == 0 {
        return vec![1.0; size];
    }
    (0..size)
        .map(|i| {
            let t = 2.0 * PI * i as f64 / denom as f64;
            match kind {
                Kind::Hann => (t / 2.0).sin().powi(2),
                Kind::Hamming => 25.0 / 46.0 - (21.0 / 46.0) * t.cos(),
                Kind::Blackman => 0.42 - 0.5 * t.cos() + 0.08 * (2.0 * t).cos(),
            }
        })
        .collect()
}

impl Op for Window {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let size = scalar_i64(input(inputs, 0, "Window")?, "window size")?;
        if size < 0 {
            bail!("window size must be non-negative, got {size}");
        }
        let size = size as usize;
        check_alloc(&[size], "window")?;
        Ok(vec![from_f64(vec![size], window(self.kind, size, self.periodic), self.dtype)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let n = inputs
            .first()
            .and_then(|i| i.value)
            .and_then(|t| t.to_i64_vec().first().copied())
            .filter(|&v| v >= 0)
            .map_or(Dim::Unknown, |v| Dim::Known(v as usize));
        Ok(vec![ValueInfo::new("", Some(self.dtype), Some(vec![n]))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let h = window(Kind::Hann, 4, true);
        let want = [0.0, 0.5, 1.0, 0.5];
        assert!(h.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12), "{h:?}");
        let h = window(Kind::Hann, 3, false);
        assert!((h[1] - 1.0).abs() < 1e-12 && h[2].abs() < 1e-12);
        let b = window(Kind::Blackman, 3, false);
        assert!((b[1] - 1.0).abs() < 1e-12 && b[0].abs() < 1e-12);
        let m = window(Kind::Hamming, 2, true);
        assert!((m[0] - 4.0 / 46.0).abs() < 1e-12 && (m[1] - 1.0).abs() < 1e-12);
    }
}
