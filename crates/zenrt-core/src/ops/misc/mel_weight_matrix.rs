//! MelWeightMatrix: triangular filter banks mapping `dft_length / 2 + 1` linear spectrum bins to
//! `num_mel_bins` mel bins (mel(f) = 2595 log10(1 + f/700)), as computed by the onnx reference
//! (including its bin edges `floor((dft_length + 1) * f / sample_rate)`). Output
//! `[dft_length / 2 + 1, num_mel_bins]` of `output_datatype` (default float).

use super::common::{check_alloc, dtype_of_code, from_f64, scalar_f64, scalar_i64};
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, DType, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct MelWeightMatrix {
    dtype: DType,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(MelWeightMatrix { dtype: dtype_of_code(cx.int("output_datatype", 1)?, "output_datatype")? }))
}

pub fn mel_matrix(mel_bins: usize, dft_length: usize, sample_rate: f64, lo: f64, hi: f64) -> Result<Vec<f64>> {
    let spec_bins = dft_length / 2 + 1;
    let to_mel = |f: f64| 2595.0 * (f / 700.0).ln_1p() / 10f64.ln();
    let (lo_mel, hi_mel) = (to_mel(lo), to_mel(hi));
    let step = (hi_mel - lo_mel) / (mel_bins + 2) as f64;
    let edges: Vec<i64> = (0..mel_bins + 2)
        .map(|i| {
            let hz = 700.0 * (((i as f64) * step + lo_mel) / 2595.0 * 10f64.ln()).exp_m1();
            ((dft_length as f64 + 1.0) * hz / sample_rate).floor() as i64
        })
        .collect();
    let mut out = vec![0.0; spec_bins * mel_bins];
    let mut set = |j: i64, i: usize, v: f64| -> Result<()> {
        if j < 0 || j as usize >= spec_bins {
            bail!("MelWeightMatrix: frequency bin {j} falls outside the {spec_bins} spectrum bins");
        }
        out[j as usize * mel_bins + i] = v;
        Ok(())
    };
    for i in 0..mel_bins {
        let (l, c, h) = (edges[i], edges[i + 1], edges[i + 2]);
        if c == l {
            set(c, i, 1.0)?;
        } else {
            for j in l..=c {
                set(j, i, (j - l) as f64 / (c - l) as f64)?;
            }
        }
        if h > c {
            for j in c..h {
                set(j, i, (h - j) as f64 / (h - c) as f64)?;
            }
        }
    }
    Ok(out)
}

impl Op for MelWeightMatrix {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let mel_bins = scalar_i64(input(inputs, 0, "MelWeightMatrix")?, "num_mel_bins")?;
        let dft_length = scalar_i64(input(inputs, 1, "MelWeightMatrix")?, "dft_length")?;
        let sample_rate = scalar_f64(input(inputs, 2, "MelWeightMatrix")?, "sample_rate")?;
        let lo = scalar_f64(input(inputs, 3, "MelWeightMatrix")?, "lower_edge_hertz")?;
        let hi = scalar_f64(input(inputs, 4, "MelWeightMatrix")?, "upper_edge_hertz")?;
        if mel_bins < 0 || dft_length < 1 || sample_rate <= 0.0 {
            bail!("MelWeightMatrix: bad num_mel_bins {mel_bins}, dft_length {dft_length} or sample_rate {sample_rate}");
        }
        let shape = vec![dft_length as usize / 2 + 1, mel_bins as usize];
        check_alloc(&shape, "MelWeightMatrix output")?;
        let m = mel_matrix(mel_bins as usize, dft_length as usize, sample_rate, lo, hi)?;
        Ok(vec![from_f64(shape, m, self.dtype)?])
    }
}
