//! Helpers shared by the nn family: sliding-window geometry (kernel/strides/dilations/pads/
//! auto_pad/ceil_mode), a bounds-checked GEMM over `matrixmultiply`, and float conversions.

use crate::graph::Dim;
use crate::ops::BuildCtx;
use crate::{bail, ensure, DType, Elem, Error, Result, Tensor};

/// The `auto_pad` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoPad {
    #[default]
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

impl AutoPad {
    pub fn parse(cx: &BuildCtx) -> Result<AutoPad> {
        Ok(match cx.string("auto_pad", "NOTSET")?.as_str() {
            "NOTSET" | "" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            other => return Err(Error::Attr { attr: "auto_pad".into(), msg: format!("unknown value {other:?}") }),
        })
    }
}

/// Sliding-window attributes as written on the node (resolved against shapes at run time).
/// `Window::default()` is a node without any: the kernel shape from the weights, stride and
/// dilation 1, no padding.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub kernel_shape: Option<Vec<i64>>,
    pub strides: Option<Vec<i64>>,
    pub dilations: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub auto_pad: AutoPad,
    pub ceil_mode: bool,
}

/// Fully resolved window geometry for given input spatial dims.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    /// Padding before/after each axis (negative only for ConvTranspose's extended outputs).
    pub pads_begin: Vec<i64>,
    pub pads_end: Vec<i64>,
    pub out: Vec<usize>,
}

fn positive(v: &[i64], what: &str, min: i64) -> Result<Vec<usize>> {
    v.iter()
        .map(|&x| {
            if x < min {
                Err(Error::Attr { attr: what.into(), msg: format!("value {x} must be >= {min}") })
            } else {
                Ok(x as usize)
            }
        })
        .collect()
}

fn len_checked(v: Option<&Vec<i64>>, n: usize, what: &str, default: i64, min: i64) -> Result<Vec<usize>> {
    match v {
        None => Ok(vec![default as usize; n]),
        Some(v) => {
            if v.len() != n {
                return Err(Error::Attr { attr: what.into(), msg: format!("has {} values, expected {n}", v.len()) });
            }
            positive(v, what, min)
        }
    }
}

impl Window {
    /// Reads kernel_shape/strides/dilations/pads/auto_pad (and ceil_mode when `with_ceil`).
    pub fn parse(cx: &BuildCtx, with_ceil: bool) -> Result<Window> {
        Ok(Window {
            kernel_shape: cx.ints_opt("kernel_shape")?,
            strides: cx.ints_opt("strides")?,
            dilations: cx.ints_opt("dilations")?,
            pads: cx.ints_opt("pads")?,
            auto_pad: AutoPad::parse(cx)?,
            ceil_mode: with_ceil && cx.int("ceil_mode", 0)? != 0,
        })
    }

    /// Kernel shape from the attribute, else from `from_weights`.
    pub fn kernel(&self, n: usize, from_weights: Option<&[usize]>) -> Result<Vec<usize>> {
        match (&self.kernel_shape, from_weights) {
            (Some(k), _) => len_checked(Some(k), n, "kernel_shape", 1, 1),
            (None, Some(w)) => {
                ensure!(w.len() == n, "weights have {} spatial dims, input has {n}", w.len());
                ensure!(w.iter().all(|&k| k >= 1), "kernel dims must be >= 1, got {w:?}");
                Ok(w.to_vec())
            }
            (None, None) => {
                Err(Error::Attr { attr: "kernel_shape".into(), msg: "required attribute is missing".into() })
            }
        }
    }

    /// Resolves the geometry for input spatial dims `input`.
    pub fn resolve(&self, input: &[usize], from_weights: Option<&[usize]>) -> Result<Geometry> {
        let n = input.len();
        let kernel = self.kernel(n, from_weights)?;
        let strides = len_checked(self.strides.as_ref(), n, "strides", 1, 1)?;
        let dilations = len_checked(self.dilations.as_ref(), n, "dilations", 1, 1)?;
        let mut pads_begin = vec![0usize; n];
        let mut pads_end = vec![0usize; n];
        let mut out = vec![0usize; n];
        for d in 0..n {
            let dk = (kernel[d] - 1) * dilations[d] + 1;
            let (i, s) = (input[d], strides[d]);
            match self.auto_pad {
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let o = i.div_ceil(s);
                    let total = ((o.max(1) - 1) * s + dk).saturating_sub(i);
                    let small = total / 2;
                    let (b, e) = if self.auto_pad == AutoPad::SameUpper {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    pads_begin[d] = b;
                    pads_end[d] = e;
                    out[d] = o;
                }
                AutoPad::Valid => {
                    ensure!(i >= dk, "input spatial dim {i} is smaller than the kernel extent {dk}");
                    out[d] = (i - dk) / s + 1;
                }
                AutoPad::NotSet => {
                    if let Some(p) = &self.pads {
                        ensure!(p.len() == 2 * n, "pads has {} values, expected {}", p.len(), 2 * n);
                        pads_begin[d] = positive(&p[d..d + 1], "pads", 0)?[0];
                        pads_end[d] = positive(&p[n + d..n + d + 1], "pads", 0)?[0];
                    }
                    let total = i + pads_begin[d] + pads_end[d];
                    ensure!(total >= dk, "padded input spatial dim {total} is smaller than the kernel extent {dk}");
                    let span = total - dk;
                    out[d] = if self.ceil_mode {
                        let mut o = span.div_ceil(s) + 1;
                        // The last window must start inside the input or its left padding.
                        if (o - 1) * s >= i + pads_begin[d] {
                            o -= 1;
                        }
                        o
                    } else {
                        span / s + 1
                    };
                }
            }
        }
        let pads_begin = pads_begin.into_iter().map(|p| p as i64).collect();
        let pads_end = pads_end.into_iter().map(|p| p as i64).collect();
        Ok(Geometry { kernel, strides, dilations, pads_begin, pads_end, out })
    }

    /// Symbolic output spatial dims for shape inference.
    pub fn infer_dims(&self, input: &[Dim], from_weights: Option<&[Dim]>) -> Vec<Dim> {
        let known: Option<Vec<usize>> =
            input.iter().map(|d| if let Dim::Known(n) = d { Some(*n) } else { None }).collect();
        let w: Option<Vec<usize>> =
            from_weights.and_then(|w| w.iter().map(|d| if let Dim::Known(n) = d { Some(*n) } else { None }).collect());
        if let Some(k) = known {
            if self.kernel_shape.is_some() || w.is_some() {
                if let Ok(g) = self.resolve(&k, w.as_deref()) {
                    return g.out.into_iter().map(Dim::Known).collect();
                }
            }
        }
        vec![Dim::Unknown; input.len()]
    }
}

impl Geometry {
    pub fn kernel_size(&self) -> usize {
        self.kernel.iter().product()
    }
}

/// Range `lo..hi` of `o` in `0..out_len` for which `o*stride + offset` lies in `0..in_len`.
pub fn valid_range(out_len: usize, stride: usize, offset: i64, in_len: usize) -> (usize, usize) {
    let s = stride as i64;
    let lo = if offset >= 0 { 0 } else { (-offset + s - 1) / s };
    let room = in_len as i64 - offset;
    let hi = if room <= 0 { 0 } else { (room + s - 1) / s };
    let hi = (hi as usize).min(out_len);
    let lo = (lo as usize).min(hi);
    (lo, hi)
}

/// Unravels a flat row-major index into `shape`.
pub fn unravel(mut flat: usize, shape: &[usize], out: &mut [usize]) {
    for d in (0..shape.len()).rev() {
        out[d] = flat % shape[d];
        flat /= shape[d];
    }
}

/// A segment of a line (last spatial axis) of the "column" grid that maps into the image:
/// column indices `lo..hi` map to image flat indices `first, first+step, ...`.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub lo: usize,
    pub hi: usize,
    pub first: usize,
    pub step: usize,
}

/// For one kernel offset `kidx`, visits every line along the last axis of the column grid
/// `col_sp` (the positions where the window is placed). Column position `o` maps to image
/// position `o*stride - pad_begin + k*dilation` in `img_sp`. Calls `f(col_line_start, seg)`
/// where `seg` is `None` when the whole line falls outside the image.
pub fn walk_lines(
    col_sp: &[usize],
    img_sp: &[usize],
    geo: &Geometry,
    kidx: &[usize],
    mut f: impl FnMut(usize, Option<Segment>),
) {
    let r = col_sp.len();
    if r == 0 || col_sp.contains(&0) {
        return;
    }
    let last = r - 1;
    let img_strides = crate::strides_of(img_sp);
    let off = |d: usize| kidx[d] as i64 * geo.dilations[d] as i64 - geo.pads_begin[d];
    let (lo, hi) = valid_range(col_sp[last], geo.strides[last], off(last), img_sp[last]);
    let n_outer: usize = col_sp[..last].iter().product();
    let mut o = vec![0usize; last];
    for outer in 0..n_outer {
        unravel(outer, &col_sp[..last], &mut o);
        let mut base = 0i64;
        let mut inside = lo < hi;
        for d in 0..last {
            let i = o[d] as i64 * geo.strides[d] as i64 + off(d);
            if i < 0 || i >= img_sp[d] as i64 {
                inside = false;
                break;
            }
            base += i * img_strides[d] as i64;
        }
        let col_start = outer * col_sp[last];
        if inside {
            let first = base + lo as i64 * geo.strides[last] as i64 + off(last);
            f(col_start, Some(Segment { lo, hi, first: first as usize, step: geo.strides[last] }));
        } else {
            f(col_start, None);
        }
    }
}

pub use crate::ops::gemm::{gemm, GemmFloat as GemmElem, Mat};

/// The dtype float computations of `dt` run in: f64 stays f64, other floats use f32.
pub fn compute_dtype(dt: DType) -> Result<DType> {
    match dt {
        DType::F64 => Ok(DType::F64),
        DType::F32 | DType::F16 | DType::BF16 => Ok(DType::F32),
        other => Err(Error::UnsupportedDType { op: String::new(), dtype: other }),
    }
}

/// All elements of a float tensor as f64 (error for non-float).
pub fn float_vec(t: &Tensor, what: &str) -> Result<Vec<f64>> {
    if !t.dtype().is_float() {
        bail!("{what}: expected a float tensor, got {}", t.dtype());
    }
    Ok(t.to_f64_vec())
}

/// Builds a tensor of dtype `dt` from f64 values.
pub fn from_f64_vec(dt: DType, shape: Vec<usize>, v: Vec<f64>) -> Result<Tensor> {
    crate::dispatch_all!(dt, T => Tensor::from_vec(shape, v.into_iter().map(T::from_f64).collect::<Vec<T>>()))
}

/// N, C and spatial dims of an `[N, C, ...]` input.
pub fn nc_spatial(shape: &[usize], op: &str, min_rank: usize) -> Result<(usize, usize, Vec<usize>)> {
    ensure!(shape.len() >= min_rank, "{op}: input must have rank >= {min_rank}, got shape {shape:?}");
    Ok((shape[0], shape[1], shape[2..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_matches_brute_force() {
        for out_len in 0..6 {
            for s in 1..4 {
                for off in -7i64..7 {
                    for in_len in 0..6 {
                        let v: Vec<usize> = (0..out_len)
                            .filter(|&o| (0..in_len as i64).contains(&(o as i64 * s as i64 + off)))
                            .collect();
                        let (lo, hi) = valid_range(out_len, s, off, in_len);
                        assert_eq!((lo..hi).collect::<Vec<_>>(), v, "out {out_len} s {s} off {off} in {in_len}");
                    }
                }
            }
        }
    }
}
