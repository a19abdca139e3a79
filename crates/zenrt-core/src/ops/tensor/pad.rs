//! Pad: constant/reflect/edge/wrap padding. `pads` is `[x1_begin, x2_begin, ..., x1_end, ...]`
//! (attribute `paddings` in opset 1, `pads` to opset 10, an input from 11; `axes` input from 18).
//! Negative pads crop.

use super::common::{axis_map_index, norm_axes, take};
use crate::ops::util::ints_of;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, checked_numel, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

#[derive(Debug)]
pub struct Pad {
    pub mode: Mode,
    /// Opset < 11: pads and constant value from attributes.
    pub attrs: Option<(Vec<i64>, f32)>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let mode = match cx.string("mode", "constant")?.as_str() {
        "constant" => Mode::Constant,
        "reflect" => Mode::Reflect,
        "edge" => Mode::Edge,
        "wrap" => Mode::Wrap,
        m => return Err(Error::Attr { attr: "mode".into(), msg: format!("unknown pad mode '{m}'") }),
    };
    let attrs = if cx.opset < 11 {
        let pads = cx.ints_opt(if cx.opset < 2 { "paddings" } else { "pads" })?.unwrap_or_default();
        Some((pads, cx.float("value", 0.0)?))
    } else {
        None
    };
    Ok(Arc::new(Pad { mode, attrs }))
}

/// Source index on an axis of size `dim` for output position `o` shifted by `begin`.
pub fn src_index(mode: Mode, o: i64, begin: i64, dim: usize) -> Option<usize> {
    let i = o - begin;
    let d = dim as i64;
    if (0..d).contains(&i) {
        return Some(i as usize);
    }
    if d == 0 {
        return None;
    }
    Some(match mode {
        Mode::Constant => return None,
        Mode::Edge => i.clamp(0, d - 1) as usize,
        Mode::Wrap => i.rem_euclid(d) as usize,
        Mode::Reflect => {
            if d == 1 {
                0
            } else {
                let p = 2 * (d - 1);
                let j = i.rem_euclid(p);
                (if j >= d { p - j } else { j }) as usize
            }
        }
    })
}

impl Op for Pad {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Pad")?;
        let r = x.rank();
        let (raw, fill_attr) = match &self.attrs {
            Some((p, v)) => (p.clone(), Some(*v)),
            None => (ints_of(input(inputs, 1, "Pad")?)?, None),
        };
        let axes = match opt_input(inputs, 3) {
            Some(a) if self.attrs.is_none() => norm_axes(&ints_of(a)?, r)?,
            _ => (0..r).collect(),
        };
        let na = axes.len();
        if raw.len() != 2 * na {
            bail!("Pad: {} pads for {na} axes", raw.len());
        }
        let mut begins = vec![0i64; r];
        let mut ends = vec![0i64; r];
        for (k, &a) in axes.iter().enumerate() {
            begins[a] = raw[k];
            ends[a] = raw[na + k];
        }
        let mut shape = Vec::with_capacity(r);
        for a in 0..r {
            let n = x.shape()[a] as i64 + begins[a] + ends[a];
            if n < 0 {
                bail!("Pad: pads {raw:?} crop axis {a} of size {} below zero", x.shape()[a]);
            }
            if self.mode != Mode::Constant && x.shape()[a] == 0 && n > 0 {
                bail!("Pad: cannot {:?}-pad an empty axis", self.mode);
            }
            shape.push(n as usize);
        }
        if checked_numel(&shape, x.dtype(), "Pad output")? == 0 {
            return Ok(vec![Tensor::zeros(x.dtype(), shape)?]);
        }
        let maps: Vec<Vec<Option<usize>>> = (0..r)
            .map(|a| (0..shape[a] as i64).map(|o| src_index(self.mode, o, begins[a], x.shape()[a])).collect())
            .collect();
        let idx = axis_map_index(x.shape(), &shape, &maps);
        let fill = match fill_attr {
            Some(v) => Some(Tensor::scalar(v as f64)),
            None => opt_input(inputs, 2).cloned(),
        };
        Ok(vec![take(x, &idx, shape, fill.as_ref())?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_and_wrap() {
        // [a b c] reflect-padded by 2 on each side: c b a b c b a
        let got: Vec<usize> = (0..7).map(|o| src_index(Mode::Reflect, o, 2, 3).unwrap()).collect();
        assert_eq!(got, vec![2, 1, 0, 1, 2, 1, 0]);
        let got: Vec<usize> = (0..7).map(|o| src_index(Mode::Wrap, o, 2, 3).unwrap()).collect();
        assert_eq!(got, vec![1, 2, 0, 1, 2, 0, 1]);
        let got: Vec<usize> = (0..5).map(|o| src_index(Mode::Edge, o, 1, 3).unwrap()).collect();
        assert_eq!(got, vec![0, 0, 1, 2, 2]);
        assert_eq!(src_index(Mode::Constant, 0, 1, 3), None);
        // negative begin: crop
        assert_eq!(src_index(Mode::Constant, 0, -1, 3), Some(1));
    }
}
