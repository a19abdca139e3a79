//! GridSample (opset 16 2-D, opset 20 N-D): samples `X [N, C, D1..Dr]` at the normalized
//! coordinates of `grid [N, O1..Or, r]` (last axis in x, y, z order) with nearest / linear /
//! cubic interpolation and zeros / border / reflection padding.

use super::common::{float_vec, from_f64_vec, unravel};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{checked_numel, ensure, DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsMode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Zeros,
    Border,
    Reflection,
}

#[derive(Debug)]
pub struct GridSample {
    pub mode: GsMode,
    pub padding: Padding,
    pub align_corners: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let mode = match cx.string("mode", "linear")?.as_str() {
        "nearest" => GsMode::Nearest,
        "linear" | "bilinear" => GsMode::Linear,
        "cubic" | "bicubic" => GsMode::Cubic,
        other => return Err(Error::Attr { attr: "mode".into(), msg: format!("unknown value {other:?}") }),
    };
    let padding = match cx.string("padding_mode", "zeros")?.as_str() {
        "zeros" => Padding::Zeros,
        "border" => Padding::Border,
        "reflection" => Padding::Reflection,
        other => return Err(Error::Attr { attr: "padding_mode".into(), msg: format!("unknown value {other:?}") }),
    };
    Ok(Arc::new(GridSample { mode, padding, align_corners: cx.int("align_corners", 0)? != 0 }))
}

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

fn cubic(x: f64) -> [f64; 4] {
    let a = -0.75;
    let x = x.abs();
    [
        ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a,
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0,
        ((a * (2.0 - x) - 5.0 * a) * (2.0 - x) + 8.0 * a) * (2.0 - x) - 4.0 * a,
    ]
}

impl GridSample {
    /// Maps an integer tap to an in-range index (None = zero padding).
    fn pixel_index(&self, i: i64, d: usize, lo: f64, hi: f64) -> Option<usize> {
        match self.padding {
            Padding::Zeros => (i >= 0 && i < d as i64).then_some(i as usize),
            Padding::Border => Some(i.clamp(0, d as i64 - 1) as usize),
            Padding::Reflection => Some((reflect(i as f64, lo, hi) as i64).clamp(0, d as i64 - 1) as usize),
        }
    }

    /// Per-axis taps (index or padding, weight) for source coordinate `x` on an axis of length `d`.
    fn taps(&self, x: f64, d: usize) -> Vec<(Option<usize>, f64)> {
        let (lo, hi) = if self.align_corners { (0.0, d as f64 - 1.0) } else { (-0.5, d as f64 - 0.5) };
        let mut x = if self.mode == GsMode::Nearest { x.round_ties_even() } else { x };
        if x < lo || x > hi {
            match self.padding {
                Padding::Border => x = x.clamp(0.0, d as f64 - 1.0),
                Padding::Reflection => x = reflect(x, lo, hi),
                Padding::Zeros => {}
            }
        }
        match self.mode {
            GsMode::Nearest => vec![(self.pixel_index(x as i64, d, lo, hi), 1.0)],
            GsMode::Linear => {
                let x0 = x.floor();
                let f = x - x0;
                let i = x0 as i64;
                vec![(self.pixel_index(i, d, lo, hi), 1.0 - f), (self.pixel_index(i + 1, d, lo, hi), f)]
            }
            GsMode::Cubic => {
                let x0 = x.floor();
                let c = cubic(x - x0);
                let i = x0 as i64;
                (0..4).map(|k| (self.pixel_index(i - 1 + k as i64, d, lo, hi), c[k])).collect()
            }
        }
    }
}

impl Op for GridSample {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "GridSample")?;
        let grid = input(inputs, 1, "GridSample")?;
        ensure!(x.rank() >= 3, "GridSample: X must be [N, C, D1, ...], got {:?}", x.shape());
        let r = x.rank() - 2;
        let gs = grid.shape();
        ensure!(
            grid.rank() == r + 2 && gs[0] == x.shape()[0] && gs[r + 1] == r,
            "GridSample: grid shape {gs:?} does not match X shape {:?}",
            x.shape()
        );
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let dims = &x.shape()[2..];
        let out_sp = &gs[1..r + 1];
        let mut out_shape = vec![n, c];
        out_shape.extend(out_sp);
        let total = checked_numel(&out_shape, DType::F64, "GridSample output")?;
        let xv = float_vec(x, "GridSample")?;
        let gv = float_vec(grid, "GridSample grid")?;
        let plane: usize = dims.iter().product();
        let out_plane: usize = out_sp.iter().product();
        let strides = crate::strides_of(dims);
        let mut y = vec![0.0; total];
        if dims.contains(&0) {
            return Ok(vec![from_f64_vec(x.dtype(), out_shape, y)?]);
        }
        let mut pos = vec![0; r];
        for ni in 0..n {
            for o in 0..out_plane {
                let g = &gv[(ni * out_plane + o) * r..(ni * out_plane + o + 1) * r];
                // grid's last axis is in (x, y, z) order: reversed w.r.t. the spatial axes.
                let taps: Vec<Vec<(Option<usize>, f64)>> = (0..r)
                    .map(|d| {
                        let v = g[r - 1 - d];
                        let len = dims[d] as f64;
                        let xs = if self.align_corners {
                            (v + 1.0) / 2.0 * (len - 1.0)
                        } else {
                            ((v + 1.0) * len - 1.0) / 2.0
                        };
                        self.taps(xs, dims[d])
                    })
                    .collect();
                let counts: Vec<usize> = taps.iter().map(|t| t.len()).collect();
                let combos: usize = counts.iter().product();
                // Weighted sum over the tap product (zero where any axis falls in zero padding).
                let mut entries = Vec::with_capacity(combos);
                for k in 0..combos {
                    unravel(k, &counts, &mut pos);
                    let mut off = 0usize;
                    let mut w = 1.0;
                    let mut inside = true;
                    for d in 0..r {
                        let (idx, wd) = taps[d][pos[d]];
                        w *= wd;
                        match idx {
                            Some(i) => off += i * strides[d],
                            None => inside = false,
                        }
                    }
                    if inside {
                        entries.push((off, w));
                    }
                }
                for ci in 0..c {
                    let src = &xv[(ni * c + ci) * plane..(ni * c + ci + 1) * plane];
                    y[(ni * c + ci) * out_plane + o] = entries.iter().map(|&(off, w)| w * src[off]).sum();
                }
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), out_shape, y)?])
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
            _ => None,
        };
        Ok(vec![ValueInfo::new("", x.dtype, shape)])
    }
}
