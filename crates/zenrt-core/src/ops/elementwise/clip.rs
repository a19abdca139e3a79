//! Clip: `min(max(x, lo), hi)` (so `hi` wins when `lo > hi`; NaN stays NaN).
//! Opset < 11: `min`/`max` float attributes; opset >= 11: optional scalar inputs 1 and 2
//! of the input's type (integers too, compared exactly).

use super::common::{infer_unary, named};
use crate::ops::util::{unary_inplace, unary_map};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InArg, InferInput, Op};
use crate::{bail, dispatch_numeric, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Clip {
    /// Opset < 11 bounds from attributes.
    pub attr_bounds: Option<(Option<f64>, Option<f64>)>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let attr_bounds = if cx.opset < 11 {
        Some((cx.float_opt("min")?.map(|v| v as f64), cx.float_opt("max")?.map(|v| v as f64)))
    } else {
        None
    };
    Ok(Arc::new(Clip { attr_bounds }))
}

/// A bound input as a single value of type `T`.
fn bound<T: Elem>(t: Option<&Tensor>, which: &str) -> Result<Option<T>> {
    // An empty tensor stands for an absent bound (some exporters write it that way).
    let Some(t) = t.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.len() != 1 {
        bail!("Clip: '{which}' must be a scalar, got shape {:?}", t.shape());
    }
    Ok(Some(t.as_slice::<T>()?[0]))
}

fn clip<T: Elem>(x: &Tensor, lo: Option<T>, hi: Option<T>) -> Result<Tensor> {
    unary_map::<T, T>(x, clip_fn(lo, hi))
}

fn clip_fn<T: Elem>(lo: Option<T>, hi: Option<T>) -> impl Fn(T) -> T {
    move |v| {
        let mut y = v;
        if let Some(lo) = lo {
            if y < lo {
                y = lo;
            }
        }
        if let Some(hi) = hi {
            if y > hi {
                y = hi;
            }
        }
        y
    }
}

impl Clip {
    /// The bounds as `f64`s (checked against the input's dtype) for input dtype `T`.
    fn bounds<T: Elem>(&self, inputs: &[Option<&Tensor>]) -> Result<(Option<T>, Option<T>)> {
        match self.attr_bounds {
            Some((lo, hi)) => Ok((lo.map(T::from_f64), hi.map(T::from_f64))),
            None => {
                let (lo_t, hi_t) = (opt_input(inputs, 1), opt_input(inputs, 2));
                for t in [lo_t, hi_t].into_iter().flatten() {
                    if t.dtype() != T::DTYPE {
                        bail!("Clip: bound dtype {} differs from input dtype {}", t.dtype(), T::DTYPE);
                    }
                }
                Ok((bound::<T>(lo_t, "min")?, bound::<T>(hi_t, "max")?))
            }
        }
    }
}

impl Op for Clip {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Clip")?;
        let out = match self.attr_bounds {
            Some((lo, hi)) => {
                dispatch_numeric!(x.dtype(), T => clip::<T>(x, lo.map(T::from_f64), hi.map(T::from_f64)))
            }
            None => {
                let (lo_t, hi_t) = (opt_input(inputs, 1), opt_input(inputs, 2));
                for t in [lo_t, hi_t].into_iter().flatten() {
                    if t.dtype() != x.dtype() {
                        bail!("Clip: bound dtype {} differs from input dtype {}", t.dtype(), x.dtype());
                    }
                }
                dispatch_numeric!(x.dtype(), T => clip::<T>(x, bound::<T>(lo_t, "min")?, bound::<T>(hi_t, "max")?))
            }
        };
        Ok(vec![named("Clip", out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_unary(inputs, None))
    }

    fn inplace_inputs(&self) -> &'static [usize] {
        &[0]
    }

    /// Clamps the input's own buffer when it dies here.
    fn run_inplace(&self, ctx: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        let numeric = |t: &Tensor| t.dtype().is_float() || t.dtype().is_int();
        let Some(x) = InArg::take_owned(inputs, 0, numeric) else {
            return self.run(ctx, &InArg::refs(inputs));
        };
        let refs = InArg::refs(inputs);
        let out = dispatch_numeric!(x.dtype(), T => {
            let (lo, hi) = self.bounds::<T>(&refs)?;
            unary_inplace::<T>(x, clip_fn(lo, hi))
        });
        Ok(vec![named("Clip", out)?])
    }
}
