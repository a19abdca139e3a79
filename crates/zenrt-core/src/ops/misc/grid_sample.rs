//! GridSample: samples `X` `[N, C, D1..Dr]` at the normalized coordinates of `grid`
//! `[N, O1..Or, r]` (last component = x, i.e. the innermost spatial axis, first), giving
//! `[N, C, O1..Or]`. Modes: linear / nearest / cubic (opset 16 names bilinear / bicubic also
//! accepted), padding: zeros / border / reflection, align_corners. Works for any number of
//! spatial dims (the onnx tests use 2-D and 3-D). Follows the onnx reference: coordinates
//! outside the border are first clamped (border) or reflected (reflection); then every
//! interpolation tap is fetched with the same padding rule (zeros outside for zeros).
//! Nearest rounds half to even; cubic uses Keys' kernel with alpha = -0.75.

use super::common::{check_alloc, from_f64, require_float};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, DType, Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Linear,
    Nearest,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Padding {
    Zeros,
    Border,
    Reflection,
}

#[derive(Debug)]
pub struct GridSample {
    mode: Mode,
    padding: Padding,
    align_corners: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let default_mode = if cx.opset < 20 { "bilinear" } else { "linear" };
    let mode = match cx.string("mode", default_mode)?.as_str() {
        "linear" | "bilinear" => Mode::Linear,
        "nearest" => Mode::Nearest,
        "cubic" | "bicubic" => Mode::Cubic,
        m => return Err(crate::Error::Attr { attr: "mode".into(), msg: format!("unknown mode '{m}'") }),
    };
    let padding = match cx.string("padding_mode", "zeros")?.as_str() {
        "zeros" => Padding::Zeros,
        "border" => Padding::Border,
        "reflection" => Padding::Reflection,
        m => return Err(crate::Error::Attr { attr: "padding_mode".into(), msg: format!("unknown mode '{m}'") }),
    };
    Ok(Arc::new(GridSample { mode, padding, align_corners: cx.int("align_corners", 0)? != 0 }))
}

/// Reflects `x` into `[lo, hi]` by the nearest border, repeatedly.
fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let rng = hi - lo;
    if rng <= 0.0 {
        return lo;
    }
    if x < lo {
        let dx = lo - x;
        let n = (dx / rng).trunc();
        let r = dx - n * rng;
        if n as i64 % 2 == 0 {
            lo + r
        } else {
            hi - r
        }
    } else if x > hi {
        let dx = x - hi;
        let n = (dx / rng).trunc();
        let r = dx - n * rng;
        if n as i64 % 2 == 0 {
            hi - r
        } else {
            lo + r
        }
    } else {
        x
    }
}

fn cubic_coeffs(t: f64) -> [f64; 4] {
    let a = -0.75;
    let x = t.abs();
    [
        ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a,
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0,
        ((a * (2.0 - x) - 5.0 * a) * (2.0 - x) + 8.0 * a) * (2.0 - x) - 4.0 * a,
    ]
}

impl GridSample {
    /// Border of the valid coordinate range along an axis of `len`.
    fn border(&self, len: usize) -> (f64, f64) {
        if self.align_corners {
            (0.0, len as f64 - 1.0)
        } else {
            (-0.5, len as f64 - 0.5)
        }
    }

    /// Maps a tap index to a source index by the padding rule (`None` = zero).
    fn tap(&self, i: i64, len: usize) -> Option<usize> {
        let n = len as i64;
        match self.padding {
            Padding::Zeros => (i >= 0 && i < n).then_some(i as usize),
            Padding::Border => Some(i.clamp(0, n - 1) as usize),
            Padding::Reflection => {
                let (lo, hi) = self.border(len);
                Some((reflect(i as f64, lo, hi) as i64).clamp(0, n - 1) as usize)
            }
        }
    }

    /// The (source index, weight) taps along one axis for normalized coordinate `g`.
    fn taps(&self, g: f64, len: usize, round_f32: bool, out: &mut Vec<(Option<usize>, f64)>) {
        out.clear();
        let l = len as f64;
        let mut x = if self.align_corners { (g + 1.0) / 2.0 * (l - 1.0) } else { ((g + 1.0) * l - 1.0) / 2.0 };
        if round_f32 {
            x = x as f32 as f64;
        }
        if self.mode == Mode::Nearest {
            x = x.round_ties_even();
        }
        let (lo, hi) = self.border(len);
        if x < lo || x > hi {
            match self.padding {
                Padding::Border => x = x.clamp(0.0, l - 1.0),
                Padding::Reflection => x = reflect(x, lo, hi),
                Padding::Zeros => {}
            }
        }
        if !x.is_finite() {
            out.push((None, 1.0));
            return;
        }
        match self.mode {
            Mode::Nearest => out.push((self.tap(x as i64, len), 1.0)),
            Mode::Linear => {
                let x0 = x.floor();
                let t = x - x0;
                out.push((self.tap(x0 as i64, len), 1.0 - t));
                out.push((self.tap(x0 as i64 + 1, len), t));
            }
            Mode::Cubic => {
                let x0 = x.floor();
                let c = cubic_coeffs(x - x0);
                for (k, w) in c.into_iter().enumerate() {
                    out.push((self.tap(x0 as i64 - 1 + k as i64, len), w));
                }
            }
        }
    }
}

impl Op for GridSample {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "GridSample")?;
        let grid = input(inputs, 1, "GridSample")?;
        require_float(x, "GridSample")?;
        require_float(grid, "GridSample")?;
        let (xs, gs) = (x.shape(), grid.shape());
        let r = xs.len().saturating_sub(2);
        if xs.len() < 3 || gs.len() != r + 2 || gs[0] != xs[0] || gs[r + 1] != r {
            bail!("GridSample: X shape {xs:?} and grid shape {gs:?} do not match ([N,C,D1..Dr] and [N,O1..Or,r])");
        }
        let (n, c) = (xs[0], xs[1]);
        let dims = &xs[2..];
        let odims = &gs[1..r + 1];
        let mut out_shape = vec![n, c];
        out_shape.extend_from_slice(odims);
        check_alloc(&out_shape, "GridSample output")?;
        let xv = x.to_f64_vec();
        let gv = grid.to_f64_vec();
        let round_f32 = grid.dtype() != DType::F64;
        let spatial: usize = dims.iter().product();
        let opos: usize = odims.iter().product();
        let mut out = vec![0.0; n * c * opos];
        let mut axis_taps: Vec<Vec<(Option<usize>, f64)>> = vec![vec![]; r];
        // Flattened product of taps: (source offset or None, weight).
        let mut combo: Vec<(Option<usize>, f64)> = vec![];
        for b in 0..n {
            for p in 0..opos {
                let g = &gv[(b * opos + p) * r..(b * opos + p + 1) * r];
                for (ax, taps) in axis_taps.iter_mut().enumerate() {
                    // grid component r-1-ax addresses spatial axis ax
                    self.taps(g[r - 1 - ax], dims[ax], round_f32, taps);
                }
                combo.clear();
                combo.push((Some(0), 1.0));
                for (ax, taps) in axis_taps.iter().enumerate() {
                    let mut next = Vec::with_capacity(combo.len() * taps.len());
                    for &(off, w) in &combo {
                        for &(i, tw) in taps {
                            let o = match (off, i) {
                                (Some(o), Some(i)) => Some(o * dims[ax] + i),
                                _ => None,
                            };
                            next.push((o, w * tw));
                        }
                    }
                    combo = next;
                }
                for ch in 0..c {
                    let base = (b * c + ch) * spatial;
                    let v: f64 = combo.iter().map(|&(o, w)| o.map_or(0.0, |o| w * xv[base + o])).sum();
                    out[(b * c + ch) * opos + p] = v;
                }
            }
        }
        Ok(vec![from_f64(out_shape, out, x.dtype())?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let (Some(x), Some(g)) = (inputs.first().and_then(|i| i.info), inputs.get(1).and_then(|i| i.info)) else {
            return Ok(vec![]);
        };
        let shape = match (&x.shape, &g.shape) {
            (Some(xs), Some(gs)) if xs.len() >= 3 && gs.len() == xs.len() => {
                let mut s = vec![xs[0].clone(), xs[1].clone()];
                s.extend(gs[1..gs.len() - 1].iter().cloned());
                Some(s)
            }
            (Some(xs), _) => Some(vec![Dim::Unknown; xs.len()]),
            _ => None,
        };
        Ok(vec![ValueInfo::new("", x.dtype, shape)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_and_taps() {
        assert_eq!(reflect(-0.75, -0.5, 3.5), -0.25);
        assert_eq!(reflect(4.0, -0.5, 3.5), 3.0);
        assert_eq!(reflect(8.0, -0.5, 3.5), -0.5 + 0.5);
        let gs = GridSample { mode: Mode::Linear, padding: Padding::Zeros, align_corners: true };
        let mut t = vec![];
        gs.taps(0.0, 3, false, &mut t); // centre of 3 pixels = index 1
        assert_eq!(t, vec![(Some(1), 1.0), (Some(2), 0.0)]);
        gs.taps(1.5, 3, false, &mut t); // x = 2.5: taps 2 and 3 (outside)
        assert_eq!(t, vec![(Some(2), 0.5), (None, 0.5)]);
        let c = cubic_coeffs(0.3);
        assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
