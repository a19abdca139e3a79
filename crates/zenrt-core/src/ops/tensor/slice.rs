//! Slice: `starts`/`ends`/`axes`/`steps` (attributes before opset 10, inputs after).
//! Negative steps walk backwards; out-of-range starts/ends (e.g. INT64_MAX) are clamped.

use super::common::{axis_map_index, const_ints, dtype_of, norm_axes, out, shape_of, take};
use crate::ops::util::ints_of;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

/// Opset < 10 attributes: starts, ends, optional axes.
type SliceAttrs = (Vec<i64>, Vec<i64>, Option<Vec<i64>>);

#[derive(Debug)]
pub struct Slice {
    /// Opset < 10: (starts, ends, axes) attributes.
    pub attrs: Option<SliceAttrs>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let attrs = if cx.opset < 10 {
        Some((
            cx.ints_opt("starts")?.unwrap_or_default(),
            cx.ints_opt("ends")?.unwrap_or_default(),
            cx.ints_opt("axes")?,
        ))
    } else {
        None
    };
    Ok(Arc::new(Slice { attrs }))
}

/// Per-axis (start, step, count) after clamping, for one axis of size `dim`.
pub fn slice_range(dim: usize, start: i64, end: i64, step: i64) -> Result<(i64, i64, usize)> {
    if step == 0 {
        bail!("Slice: step must not be 0");
    }
    let d = dim as i128;
    let (mut s, mut e) = (start as i128, end as i128);
    if s < 0 {
        s += d;
    }
    if e < 0 {
        e += d;
    }
    if step > 0 {
        s = s.clamp(0, d);
        e = e.clamp(0, d);
    } else {
        s = s.clamp(-1, d - 1);
        e = e.clamp(-1, d - 1);
    }
    let st = step as i128;
    let count = if step > 0 { (e - s + st - 1).div_euclid(st) } else { (s - e + (-st) - 1).div_euclid(-st) };
    Ok((s as i64, step, count.max(0) as usize))
}

/// Per-axis (start, step, count) for every axis of `shape`.
pub fn plan(
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> Result<Vec<(i64, i64, usize)>> {
    let rank = shape.len();
    if starts.len() != ends.len() {
        bail!("Slice: {} starts but {} ends", starts.len(), ends.len());
    }
    let axes = match axes {
        Some(a) => {
            if a.len() != starts.len() {
                bail!("Slice: {} axes for {} starts", a.len(), starts.len());
            }
            norm_axes(a, rank)?
        }
        None => {
            if starts.len() > rank {
                bail!("Slice: {} starts for rank {rank}", starts.len());
            }
            (0..starts.len()).collect()
        }
    };
    if let Some(s) = steps {
        if s.len() != starts.len() {
            bail!("Slice: {} steps for {} starts", s.len(), starts.len());
        }
    }
    let mut out: Vec<(i64, i64, usize)> = shape.iter().map(|&d| (0, 1, d)).collect();
    for (k, &ax) in axes.iter().enumerate() {
        let step = steps.map(|s| s[k]).unwrap_or(1);
        out[ax] = slice_range(shape[ax], starts[k], ends[k], step)?;
    }
    Ok(out)
}

impl Op for Slice {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Slice")?;
        let p = match &self.attrs {
            Some((s, e, a)) => plan(x.shape(), s, e, a.as_deref(), None)?,
            None => {
                let s = ints_of(input(inputs, 1, "Slice")?)?;
                let e = ints_of(input(inputs, 2, "Slice")?)?;
                let a = opt_input(inputs, 3).map(ints_of).transpose()?;
                let st = opt_input(inputs, 4).map(ints_of).transpose()?;
                plan(x.shape(), &s, &e, a.as_deref(), st.as_deref())?
            }
        };
        let out_shape: Vec<usize> = p.iter().map(|r| r.2).collect();
        let maps: Vec<Vec<Option<usize>>> =
            p.iter().map(|&(s, st, n)| (0..n as i64).map(|k| Some((s + k * st) as usize)).collect()).collect();
        let idx = axis_map_index(x.shape(), &out_shape, &maps);
        Ok(vec![take(x, &idx, out_shape, None)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dt = dtype_of(inputs, 0);
        let Some(ins) = shape_of(inputs, 0) else { return Ok(out(dt, None)) };
        let (s, e, a, st) = match &self.attrs {
            Some((s, e, a)) => (Some(s.clone()), Some(e.clone()), a.clone(), None),
            None => (const_ints(inputs, 1), const_ints(inputs, 2), const_ints(inputs, 3), const_ints(inputs, 4)),
        };
        let (Some(s), Some(e)) = (s, e) else { return Ok(out(dt, Some(vec![Dim::Unknown; ins.len()]))) };
        if self.attrs.is_none()
            && ((inputs.len() > 3 && a.is_none() && inputs[3].info.is_some())
                || (inputs.len() > 4 && st.is_none() && inputs[4].info.is_some()))
        {
            return Ok(out(dt, Some(vec![Dim::Unknown; ins.len()])));
        }
        // Axes that are sliced need known dims; others keep theirs.
        let axes: Vec<usize> = match &a {
            Some(a) => match norm_axes(a, ins.len()) {
                Ok(v) => v,
                Err(_) => return Ok(out(dt, None)),
            },
            None => (0..s.len().min(ins.len())).collect(),
        };
        let mut res = ins.clone();
        for (k, &ax) in axes.iter().enumerate() {
            res[ax] = match (&ins[ax], s.get(k), e.get(k)) {
                (Dim::Known(d), Some(&s0), Some(&e0)) => {
                    let step = st.as_ref().and_then(|v| v.get(k).copied()).unwrap_or(1);
                    match slice_range(*d, s0, e0, step) {
                        Ok(r) => Dim::Known(r.2),
                        Err(_) => Dim::Unknown,
                    }
                }
                _ => Dim::Unknown,
            };
        }
        Ok(out(dt, Some(res)))
    }
}

#[cfg(test)]
mod tests {
    use super::slice_range;

    #[test]
    fn ranges() {
        assert_eq!(slice_range(10, 0, 3, 1).unwrap(), (0, 1, 3));
        assert_eq!(slice_range(10, 1, i64::MAX, 1).unwrap(), (1, 1, 9));
        assert_eq!(slice_range(10, -1, i64::MIN, -1).unwrap(), (9, -1, 10));
        assert_eq!(slice_range(10, 20, 1000, 1).unwrap().2, 0);
        assert_eq!(slice_range(10, 8, 1, -3).unwrap(), (8, -3, 3)); // 8,5,2
        assert_eq!(slice_range(10, 0, 10, 3).unwrap().2, 4); // 0,3,6,9
        assert!(slice_range(10, 0, 10, 0).is_err());
    }
}
