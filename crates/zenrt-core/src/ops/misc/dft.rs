//! DFT: discrete Fourier transform along one axis of a real (`[..., 1]`) or complex
//! (`[..., 2]`, real and imaginary parts) signal. Opset 17 takes `axis` as an attribute
//! (default 1); opset 20 as an optional third input (default -2). `dft_length` (optional
//! input) truncates or zero-pads the signal. `onesided` returns the first `n/2 + 1` bins of a
//! forward transform (RFFT), or, with `inverse`, takes a one-sided spectrum and returns the
//! full real signal (IRFFT, default length `2 * (len - 1)`). Computed in f64 with a plain
//! O(n^2) transform using an exact twiddle table.

use super::common::{from_f64, require_float, scalar_i64};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor};
use std::f64::consts::PI;
use std::sync::Arc;

#[derive(Debug)]
pub struct Dft {
    /// `Some` for opset < 20 (attribute).
    axis_attr: Option<i64>,
    inverse: bool,
    onesided: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let axis_attr = if cx.opset < 20 { Some(cx.int("axis", 1)?) } else { None };
    Ok(Arc::new(Dft { axis_attr, inverse: cx.int("inverse", 0)? != 0, onesided: cx.int("onesided", 0)? != 0 }))
}

/// `out[k] = sum_j x[j] * exp(sign * 2 pi i k j / n)` for `k < out.len()`, with `x` zero-padded
/// or truncated to `n`. Complex numbers are (re, im) pairs.
pub fn dft_lane(x: &[(f64, f64)], n: usize, inverse: bool, out: &mut [(f64, f64)]) {
    let sign = if inverse { 1.0 } else { -1.0 };
    let tw: Vec<(f64, f64)> = (0..n)
        .map(|t| {
            let a = sign * 2.0 * PI * t as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .collect();
    let m = x.len().min(n);
    for (k, o) in out.iter_mut().enumerate() {
        let (mut re, mut im) = (0.0, 0.0);
        let mut t = 0usize; // (k * j) mod n, updated incrementally
        let step = if n == 0 { 0 } else { k % n };
        for &(xr, xi) in &x[..m] {
            let (c, s) = tw[t];
            re += xr * c - xi * s;
            im += xr * s + xi * c;
            t += step;
            if t >= n {
                t -= n;
            }
        }
        *o = (re, im);
    }
}

/// Runs a transform over every lane along `axis` of a `[..., comp]` signal.
/// `f(lane, out_lane)` fills the output lane; `out_len` and `out_comp` give its size.
pub fn map_lanes(
    x: &Tensor,
    axis: usize,
    out_len: usize,
    out_comp: usize,
    f: impl Fn(&[(f64, f64)], &mut [(f64, f64)]),
) -> Result<Tensor> {
    let shape = x.shape();
    let r = shape.len();
    let comp = shape[r - 1];
    let len = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..r - 1].iter().product();
    let mut out_shape = shape.to_vec();
    out_shape[axis] = out_len;
    out_shape[r - 1] = out_comp;
    super::common::check_alloc(&out_shape, "DFT output")?;
    let xv = x.to_f64_vec();
    let mut out = vec![0.0; outer * out_len * inner * out_comp];
    let mut lane = vec![(0.0, 0.0); len];
    let mut res = vec![(0.0, 0.0); out_len];
    for o in 0..outer {
        for i in 0..inner {
            for (j, l) in lane.iter_mut().enumerate() {
                let b = ((o * len + j) * inner + i) * comp;
                *l = (xv[b], if comp == 2 { xv[b + 1] } else { 0.0 });
            }
            f(&lane, &mut res);
            for (k, &(re, im)) in res.iter().enumerate() {
                let b = ((o * out_len + k) * inner + i) * out_comp;
                out[b] = re;
                if out_comp == 2 {
                    out[b + 1] = im;
                }
            }
        }
    }
    from_f64(out_shape, out, x.dtype())
}

impl Op for Dft {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "DFT")?;
        require_float(x, "DFT")?;
        let r = x.rank();
        if r < 2 || !(x.shape()[r - 1] == 1 || x.shape()[r - 1] == 2) {
            bail!("DFT: input must have rank >= 2 and a last dimension of 1 or 2, got {:?}", x.shape());
        }
        let axis = match self.axis_attr {
            Some(a) => a,
            None => match opt_input(inputs, 2).filter(|t| !t.is_empty()) {
                Some(t) => scalar_i64(t, "DFT axis")?,
                None => -2,
            },
        };
        let ri = r as i64;
        let axis = if axis < 0 { axis + ri } else { axis };
        if axis < 0 || axis > ri - 2 {
            bail!("DFT: axis is out of range for an input of rank {r}");
        }
        let axis = axis as usize;
        let len = x.shape()[axis];
        let irfft = self.inverse && self.onesided;
        let n = match opt_input(inputs, 1).filter(|t| !t.is_empty()) {
            Some(t) => {
                let v = scalar_i64(t, "DFT dft_length")?;
                if v < 1 {
                    bail!("DFT: dft_length must be positive, got {v}");
                }
                v as usize
            }
            None if irfft => {
                if len < 2 {
                    bail!("DFT: an IRFFT needs at least 2 input bins or an explicit dft_length");
                }
                2 * (len - 1)
            }
            None => len,
        };
        let out = if irfft {
            map_lanes(x, axis, n, 1, |lane, out| {
                // Rebuild the Hermitian spectrum from the first n/2+1 bins; the real part of
                // the inverse transform ignores the imaginary parts of DC and Nyquist.
                let half = n / 2 + 1;
                let full: Vec<(f64, f64)> = (0..n)
                    .map(|k| {
                        let (src, conj) = if k < half { (k, false) } else { (n - k, true) };
                        let (re, im) = lane.get(src).copied().unwrap_or((0.0, 0.0));
                        (re, if conj { -im } else { im })
                    })
                    .collect();
                dft_lane(&full, n, true, out);
                for o in out.iter_mut() {
                    *o = (o.0 / n as f64, 0.0);
                }
            })?
        } else {
            let out_len = if self.onesided { n / 2 + 1 } else { n };
            let inverse = self.inverse;
            map_lanes(x, axis, out_len, 2, |lane, out| {
                dft_lane(lane, n, inverse, out);
                if inverse {
                    for o in out.iter_mut() {
                        *o = (o.0 / n as f64, o.1 / n as f64);
                    }
                }
            })?
        };
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_dft() {
        let x = [(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0)];
        let mut out = [(0.0, 0.0); 4];
        dft_lane(&x, 4, false, &mut out);
        let want = [(10.0, 0.0), (-2.0, 2.0), (-2.0, 0.0), (-2.0, -2.0)];
        for (a, b) in out.iter().zip(&want) {
            assert!((a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12, "{out:?}");
        }
        // zero padding to 6 then first bin only
        let mut o1 = [(0.0, 0.0); 1];
        dft_lane(&x, 6, false, &mut o1);
        assert!((o1[0].0 - 10.0).abs() < 1e-12);
    }
}
