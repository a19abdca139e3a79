//! STFT: short-time Fourier transform of `signal` `[batch, length, 1|2]` with hop `frame_step`,
//! an optional `window` and optional `frame_length` (defaults: the window's length, else the
//! signal length; a missing window is rectangular). Output `[batch, frames, bins, 2]` with
//! `frames = (length - frame_length) / frame_step + 1` and `bins = frame_length / 2 + 1` when
//! `onesided` (default 1), else `frame_length`.

use super::common::{check_alloc, from_f64, require_float, scalar_i64};
use super::dft::dft_lane;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct Stft {
    onesided: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Stft { onesided: cx.int("onesided", 1)? != 0 }))
}

impl Op for Stft {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "STFT")?;
        require_float(x, "STFT")?;
        let s = x.shape();
        if s.len() != 3 || !(s[2] == 1 || s[2] == 2) {
            bail!("STFT: signal must have shape [batch, length, 1 or 2], got {s:?}");
        }
        let (batch, len, comp) = (s[0], s[1], s[2]);
        let step = scalar_i64(input(inputs, 1, "STFT")?, "STFT frame_step")?;
        if step < 1 {
            bail!("STFT: frame_step must be positive, got {step}");
        }
        let step = step as usize;
        let window = opt_input(inputs, 2).filter(|t| !t.is_empty());
        if let Some(w) = window {
            if w.rank() != 1 {
                bail!("STFT: window must be 1-D, got shape {:?}", w.shape());
            }
        }
        let frame_len = match opt_input(inputs, 3).filter(|t| !t.is_empty()) {
            Some(t) => {
                let v = scalar_i64(t, "STFT frame_length")?;
                if v < 1 {
                    bail!("STFT: frame_length must be positive, got {v}");
                }
                v as usize
            }
            None => window.map_or(len, |w| w.len()),
        };
        let win: Vec<f64> = match window {
            Some(w) => {
                if w.len() != frame_len {
                    bail!("STFT: window length {} differs from frame_length {frame_len}", w.len());
                }
                w.to_f64_vec()
            }
            None => vec![1.0; frame_len],
        };
        if frame_len > len {
            bail!("STFT: frame_length {frame_len} exceeds the signal length {len}");
        }
        let frames = (len - frame_len) / step + 1;
        let bins = if self.onesided { frame_len / 2 + 1 } else { frame_len };
        let out_shape = vec![batch, frames, bins, 2];
        check_alloc(&out_shape, "STFT output")?;
        let xv = x.to_f64_vec();
        let mut out = Vec::with_capacity(batch * frames * bins * 2);
        let mut lane = vec![(0.0, 0.0); frame_len];
        let mut res = vec![(0.0, 0.0); bins];
        for b in 0..batch {
            for f in 0..frames {
                for (j, l) in lane.iter_mut().enumerate() {
                    let p = (b * len + f * step + j) * comp;
                    let im = if comp == 2 { xv[p + 1] } else { 0.0 };
                    *l = (xv[p] * win[j], im * win[j]);
                }
                dft_lane(&lane, frame_len, false, &mut res);
                out.extend(res.iter().flat_map(|&(re, im)| [re, im]));
            }
        }
        Ok(vec![from_f64(out_shape, out, x.dtype())?])
    }
}
