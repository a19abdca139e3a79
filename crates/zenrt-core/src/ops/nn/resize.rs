//! Resize (opset 10-19+) and the deprecated Upsample: nearest / linear / cubic interpolation,
//! every coordinate_transformation_mode and nearest_mode, cubic_coeff_a, exclude_outside,
//! extrapolation_value, antialias, axes, keep_aspect_ratio_policy, scales or sizes, roi.
//!
//! Interpolation is separable: each resized axis is processed in turn with a per-output-index
//! table of (input index, weight) taps, computed in f64 as in the ONNX reference.

use crate::ops::util::norm_axis;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, ensure, DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coord {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
    TfCropAndResize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nearest {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
    /// Opset < 11 behaviour: truncate when upsampling, ceil when downsampling.
    Simple,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AspectPolicy {
    Stretch,
    NotLarger,
    NotSmaller,
}

/// Where scales come from.
#[derive(Debug, Clone)]
enum ScalesFrom {
    /// Resize: inputs (roi at `roi`, scales at `scales`, sizes at `sizes`; None = not an input).
    Inputs { roi: Option<usize>, scales: usize, sizes: Option<usize> },
    /// Upsample opset 7-8: `scales` attribute.
    Attr(Vec<f32>),
}

#[derive(Debug)]
pub struct Resize {
    pub mode: Mode,
    pub coord: Coord,
    pub nearest: Nearest,
    pub cubic_a: f64,
    pub exclude_outside: bool,
    pub extrapolation: f64,
    pub antialias: bool,
    pub axes: Option<Vec<i64>>,
    pub policy: AspectPolicy,
    from: ScalesFrom,
}

fn attr_err(attr: &str, msg: String) -> Error {
    Error::Attr { attr: attr.into(), msg }
}

fn parse_mode(s: &str) -> Result<Mode> {
    Ok(match s {
        "nearest" => Mode::Nearest,
        "linear" | "bilinear" | "trilinear" => Mode::Linear,
        "cubic" | "bicubic" => Mode::Cubic,
        other => return Err(attr_err("mode", format!("unknown mode {other:?}"))),
    })
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let mode = parse_mode(&cx.string("mode", "nearest")?)?;
    let legacy = cx.opset < 11;
    let coord = if legacy {
        Coord::Asymmetric
    } else {
        match cx.string("coordinate_transformation_mode", "half_pixel")?.as_str() {
            "half_pixel" => Coord::HalfPixel,
            "half_pixel_symmetric" => Coord::HalfPixelSymmetric,
            "pytorch_half_pixel" => Coord::PytorchHalfPixel,
            "align_corners" => Coord::AlignCorners,
            "asymmetric" => Coord::Asymmetric,
            "tf_half_pixel_for_nn" => Coord::TfHalfPixelForNn,
            "tf_crop_and_resize" => Coord::TfCropAndResize,
            other => return Err(attr_err("coordinate_transformation_mode", format!("unknown value {other:?}"))),
        }
    };
    let nearest = if legacy {
        Nearest::Simple
    } else {
        match cx.string("nearest_mode", "round_prefer_floor")?.as_str() {
            "round_prefer_floor" => Nearest::RoundPreferFloor,
            "round_prefer_ceil" => Nearest::RoundPreferCeil,
            "floor" => Nearest::Floor,
            "ceil" => Nearest::Ceil,
            other => return Err(attr_err("nearest_mode", format!("unknown value {other:?}"))),
        }
    };
    let policy = match cx.string("keep_aspect_ratio_policy", "stretch")?.as_str() {
        "stretch" => AspectPolicy::Stretch,
        "not_larger" => AspectPolicy::NotLarger,
        "not_smaller" => AspectPolicy::NotSmaller,
        other => return Err(attr_err("keep_aspect_ratio_policy", format!("unknown value {other:?}"))),
    };
    let from = if legacy {
        ScalesFrom::Inputs { roi: None, scales: 1, sizes: None }
    } else {
        ScalesFrom::Inputs { roi: Some(1), scales: 2, sizes: Some(3) }
    };
    Ok(Arc::new(Resize {
        mode,
        coord,
        nearest,
        cubic_a: cx.float("cubic_coeff_a", -0.75)? as f64,
        exclude_outside: cx.int("exclude_outside", 0)? != 0,
        extrapolation: cx.float("extrapolation_value", 0.0)? as f64,
        antialias: cx.int("antialias", 0)? != 0,
        axes: cx.ints_opt("axes")?,
        policy,
        from,
    }))
}

/// Upsample (deprecated): nearest/linear with asymmetric coordinates; scales from the
/// attribute (opset 7-8) or the second input (opset 9).
pub fn build_upsample(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let mode = parse_mode(&cx.string("mode", "nearest")?)?;
    let from = if cx.opset >= 9 {
        ScalesFrom::Inputs { roi: None, scales: 1, sizes: None }
    } else if let Some(s) = cx.floats_opt("scales")? {
        ScalesFrom::Attr(s)
    } else {
        // Upsample-1: height_scale / width_scale on a 4-D input.
        let h =
            cx.float_opt("height_scale")?.ok_or_else(|| attr_err("scales", "required attribute is missing".into()))?;
        let w = cx.float("width_scale", 1.0)?;
        ScalesFrom::Attr(vec![1.0, 1.0, h, w])
    };
    Ok(Arc::new(Resize {
        mode,
        coord: Coord::Asymmetric,
        nearest: Nearest::Simple,
        cubic_a: -0.75,
        exclude_outside: false,
        extrapolation: 0.0,
        antialias: false,
        axes: None,
        policy: AspectPolicy::Stretch,
        from,
    }))
}

/// Resampling taps of one output index along one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Taps {
    pub idx: Vec<usize>,
    pub w: Vec<f64>,
    /// tf_crop_and_resize: the source coordinate is outside the input.
    pub extrapolate: bool,
}

/// Per-axis parameters resolved from the inputs.
#[derive(Debug, Clone)]
pub struct AxisPlan {
    pub axis: usize,
    pub scale: f64,
    pub out: usize,
    pub roi: (f64, f64),
}

fn cubic_coeffs(r: f64, a: f64) -> Vec<f64> {
    let s = 1.0 - r;
    vec![
        ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
        ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
        ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0,
        ((a * (s + 1.0) - 5.0 * a) * (s + 1.0) + 8.0 * a) * (s + 1.0) - 4.0 * a,
    ]
}

fn normalized(v: Vec<f64>) -> Vec<f64> {
    let s: f64 = v.iter().sum();
    v.into_iter().map(|c| c / s).collect()
}

impl Resize {
    fn source_coord(&self, y: f64, p: &AxisPlan, in_len: usize) -> f64 {
        let (scale, inw) = (p.scale, in_len as f64);
        let outw = scale * inw;
        match self.coord {
            Coord::AlignCorners => {
                if outw == 1.0 {
                    0.0
                } else {
                    y * (inw - 1.0) / (outw - 1.0)
                }
            }
            Coord::Asymmetric => y / scale,
            Coord::TfHalfPixelForNn => (y + 0.5) / scale,
            Coord::TfCropAndResize => {
                let (r0, r1) = p.roi;
                let x = if outw == 1.0 {
                    (r1 - r0) * (inw - 1.0) / 2.0
                } else {
                    y * (r1 - r0) * (inw - 1.0) / (outw - 1.0)
                };
                x + r0 * (inw - 1.0)
            }
            Coord::PytorchHalfPixel => {
                if outw == 1.0 {
                    -0.5
                } else {
                    (y + 0.5) / scale - 0.5
                }
            }
            Coord::HalfPixel => (y + 0.5) / scale - 0.5,
            Coord::HalfPixelSymmetric => {
                let adjustment = p.out as f64 / outw;
                let offset = inw / 2.0 * (1.0 - adjustment);
                offset + (y + 0.5) / scale - 0.5
            }
        }
    }

    /// The taps of every output index along one axis.
    pub fn axis_taps(&self, p: &AxisPlan, in_len: usize) -> Vec<Taps> {
        let mut all = Vec::with_capacity(p.out);
        for yi in 0..p.out {
            let x = self.source_coord(yi as f64, p, in_len);
            let extrapolate = self.coord == Coord::TfCropAndResize && (x < 0.0 || x > in_len as f64 - 1.0);
            let fl = x.floor();
            let clamp = |i: i64| i.clamp(0, in_len as i64 - 1) as usize;
            if self.mode == Mode::Nearest {
                let frac = x - fl;
                let up = match self.nearest {
                    _ if frac == 0.0 => false,
                    Nearest::RoundPreferFloor => frac > 0.5,
                    Nearest::RoundPreferCeil => frac >= 0.5,
                    Nearest::Floor => false,
                    Nearest::Ceil => true,
                    Nearest::Simple => p.scale < 1.0,
                };
                let i = fl as i64 + up as i64;
                all.push(Taps { idx: vec![clamp(i)], w: vec![1.0], extrapolate });
                continue;
            }
            let ratio = if x == fl { 1.0 } else { x - fl };
            let mut w = match (self.mode, self.antialias && p.scale < 1.0) {
                (Mode::Linear, false) => vec![1.0 - ratio, ratio],
                (Mode::Cubic, false) => cubic_coeffs(ratio, self.cubic_a),
                (Mode::Linear, true) => {
                    let s = p.scale;
                    let start = (-1.0 / s).floor() as i64 + 1;
                    let n = 2 - 2 * start;
                    normalized(
                        (start..start + n).map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0)).collect(),
                    )
                }
                (_, true) => {
                    let (s, a) = (p.scale, self.cubic_a);
                    let coeff = |x: f64| {
                        let x = x.abs();
                        let (x2, x3) = (x * x, x * x * x);
                        if x <= 1.0 {
                            (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0
                        } else if x < 2.0 {
                            a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a
                        } else {
                            0.0
                        }
                    };
                    let start = (-2.0 / s).floor() as i64 + 1;
                    normalized((start..2 - start).map(|i| coeff(s * (i as f64 - ratio))).collect())
                }
                (Mode::Nearest, _) => unreachable!("handled above"),
            };
            let n = w.len() as i64;
            let frac = x - fl;
            let offset = if frac == 0.0 { -(n / 2) } else { -(n / 2) + 1 };
            let raw: Vec<i64> = (0..n).map(|k| fl as i64 + offset + k).collect();
            if self.exclude_outside {
                for (c, &i) in w.iter_mut().zip(&raw) {
                    if i < 0 || i >= in_len as i64 {
                        *c = 0.0;
                    }
                }
                let s: f64 = w.iter().sum();
                let s = if s == 0.0 { 1.0 } else { s };
                w.iter_mut().for_each(|c| *c /= s);
            }
            all.push(Taps { idx: raw.into_iter().map(clamp).collect(), w, extrapolate });
        }
        all
    }

    /// Resolves the per-axis plan (scale, output size, roi) from the inputs.
    fn plan(&self, x: &Tensor, inputs: &[Option<&Tensor>]) -> Result<Vec<AxisPlan>> {
        let shape = x.shape();
        let r = shape.len();
        let axes: Vec<usize> = match &self.axes {
            Some(a) => a.iter().map(|&v| norm_axis(v, r)).collect::<Result<_>>()?,
            None => (0..r).collect(),
        };
        let na = axes.len();
        let nonempty = |i: Option<usize>| i.and_then(|i| opt_input(inputs, i)).filter(|t| !t.is_empty());
        let (scales, sizes, roi) = match &self.from {
            ScalesFrom::Attr(s) => (Some(s.iter().map(|&v| v as f64).collect::<Vec<_>>()), None, None),
            ScalesFrom::Inputs { roi, scales, sizes } => {
                let sc = nonempty(Some(*scales)).map(|t| super::common::float_vec(t, "Resize scales")).transpose()?;
                let sz = nonempty(*sizes).map(crate::ops::util::ints_of).transpose()?;
                let ro = nonempty(*roi).map(|t| super::common::float_vec(t, "Resize roi")).transpose()?;
                (sc, sz, ro)
            }
        };
        let roi_of = |i: usize| -> Result<(f64, f64)> {
            match &roi {
                None => Ok((0.0, 1.0)),
                Some(v) if v.len() == 2 * na => Ok((v[i], v[na + i])),
                Some(v) if v.len() == 2 * r => Ok((v[axes[i]], v[r + axes[i]])),
                Some(v) => bail!("Resize: roi has {} values, expected {}", v.len(), 2 * na),
            }
        };
        let mut plans = Vec::with_capacity(na);
        match (scales, sizes) {
            (Some(_), Some(_)) => bail!("Resize: only one of scales and sizes may be given"),
            (None, None) => bail!("Resize: one of scales and sizes is required"),
            (Some(sc), None) => {
                ensure!(sc.len() == na, "Resize: scales has {} values, expected {na}", sc.len());
                for (i, &a) in axes.iter().enumerate() {
                    ensure!(sc[i] > 0.0 && sc[i].is_finite(), "Resize: scale {} must be positive", sc[i]);
                    let out = (sc[i] * shape[a] as f64).floor();
                    if out >= 1e15 {
                        bail!("Resize: output size too large");
                    }
                    plans.push(AxisPlan { axis: a, scale: sc[i], out: out as usize, roi: roi_of(i)? });
                }
            }
            (None, Some(sz)) => {
                ensure!(sz.len() == na, "Resize: sizes has {} values, expected {na}", sz.len());
                ensure!(sz.iter().all(|&v| v >= 0), "Resize: sizes must be non-negative");
                let mut scales: Vec<f64> = axes.iter().zip(&sz).map(|(&a, &s)| s as f64 / shape[a] as f64).collect();
                let mut outs: Vec<usize> = sz.iter().map(|&v| v as usize).collect();
                if self.policy != AspectPolicy::Stretch {
                    let s = if self.policy == AspectPolicy::NotLarger {
                        scales.iter().cloned().fold(f64::INFINITY, f64::min)
                    } else {
                        scales.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                    };
                    scales = vec![s; na];
                    outs = axes.iter().map(|&a| (s * shape[a] as f64 + 0.5).floor() as usize).collect();
                }
                for (i, &a) in axes.iter().enumerate() {
                    plans.push(AxisPlan { axis: a, scale: scales[i], out: outs[i], roi: roi_of(i)? });
                }
            }
        }
        Ok(plans)
    }

    fn output_shape(&self, x: &Tensor, plans: &[AxisPlan]) -> Vec<usize> {
        let mut s = x.shape().to_vec();
        for p in plans {
            s[p.axis] = p.out;
        }
        s
    }
}

/// Applies `taps` along `axis` of `data` (shape `shape`), returning the new buffer.
fn apply_axis(data: &[f64], shape: &[usize], axis: usize, taps: &[Taps], extrapolation: f64) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let n_in = shape[axis];
    let n_out = taps.len();
    let mut out = vec![0.0; outer * n_out * inner];
    for o in 0..outer {
        for (j, t) in taps.iter().enumerate() {
            let dst = &mut out[(o * n_out + j) * inner..(o * n_out + j + 1) * inner];
            if t.extrapolate {
                dst.fill(extrapolation);
                continue;
            }
            for (&i, &w) in t.idx.iter().zip(&t.w) {
                let src = &data[(o * n_in + i) * inner..(o * n_in + i + 1) * inner];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d += w * s;
                }
            }
        }
    }
    out
}

impl Op for Resize {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Resize")?;
        let plans = self.plan(x, inputs)?;
        let out_shape = self.output_shape(x, &plans);
        checked_numel(&out_shape, DType::F64, "Resize output")?;
        let mut shape = x.shape().to_vec();
        let mut data = x.to_f64_vec();
        for p in &plans {
            let unchanged = (p.scale - 1.0).abs() < 1e-9
                && p.out == shape[p.axis]
                && (self.coord != Coord::TfCropAndResize || (p.roi.0.abs() < 1e-9 && (p.roi.1 - 1.0).abs() < 1e-9));
            if unchanged {
                continue;
            }
            ensure!(shape[p.axis] > 0 || p.out == 0, "Resize: cannot resize an empty axis to {}", p.out);
            let taps = self.axis_taps(p, shape[p.axis]);
            data = apply_axis(&data, &shape, p.axis, &taps, self.extrapolation);
            shape[p.axis] = p.out;
        }
        let dt = x.dtype();
        let out = if dt.is_float() {
            super::common::from_f64_vec(dt, shape, data)?
        } else {
            // Integer outputs: round to nearest and saturate.
            super::common::from_f64_vec(dt, shape, data.into_iter().map(f64::round_ties_even).collect())?
        };
        Ok(vec![out])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let Some(x) = inputs.first().and_then(|i| i.info) else {
            return Ok(vec![]);
        };
        // The output shape depends on input values; only the dtype and rank are static.
        let shape = x.shape.as_ref().map(|s| vec![crate::Dim::Unknown; s.len()]);
        Ok(vec![ValueInfo::new("", x.dtype, shape)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize(mode: Mode, coord: Coord) -> Resize {
        Resize {
            mode,
            coord,
            nearest: Nearest::RoundPreferFloor,
            cubic_a: -0.75,
            exclude_outside: false,
            extrapolation: 0.0,
            antialias: false,
            axes: None,
            policy: AspectPolicy::Stretch,
            from: ScalesFrom::Attr(vec![]),
        }
    }

    #[test]
    fn linear_half_pixel_upsample_taps() {
        let r = resize(Mode::Linear, Coord::HalfPixel);
        let p = AxisPlan { axis: 0, scale: 2.0, out: 4, roi: (0.0, 1.0) };
        let t = r.axis_taps(&p, 2);
        // x_ori = -0.25, 0.25, 0.75, 1.25
        let v = [1.0, 3.0];
        let got: Vec<f64> = t.iter().map(|t| t.idx.iter().zip(&t.w).map(|(&i, &w)| w * v[i]).sum()).collect();
        assert_eq!(got, vec![1.0, 1.5, 2.5, 3.0]);
    }
}
