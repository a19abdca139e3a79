//! ArgMax, ArgMin: int64 index of the extreme element along `axis` (first occurrence, or last
//! with `select_last_index`, opset 12+). NaN counts as the extreme (like numpy). The reduced axis
//! must not be empty.

use super::common::{reduced_dims, reduced_shape, ReduceIndex};
use crate::ops::util::norm_axis;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, dispatch_all, DType, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct ArgMinMax {
    max: bool,
    axis: i64,
    keepdims: bool,
    select_last_index: bool,
}

fn build(cx: &BuildCtx, max: bool) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ArgMinMax {
        max,
        axis: cx.int("axis", 0)?,
        keepdims: cx.int("keepdims", 1)? != 0,
        select_last_index: cx.int("select_last_index", 0)? != 0,
    }))
}

pub fn build_argmax(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, true)
}
pub fn build_argmin(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, false)
}

impl ArgMinMax {
    fn name(&self) -> &'static str {
        if self.max {
            "ArgMax"
        } else {
            "ArgMin"
        }
    }

    /// Index of the extreme element of `g` (non-empty).
    #[allow(clippy::eq_op)]
    fn pick<T: Elem>(&self, g: impl Iterator<Item = T>) -> i64 {
        let mut best: Option<(usize, T)> = None;
        for (i, x) in g.enumerate() {
            let take = match best {
                None => true,
                Some((_, b)) => {
                    let (x_nan, b_nan) = (x != x, b != b);
                    if b_nan {
                        x_nan && self.select_last_index
                    } else if x_nan {
                        true
                    } else if self.max {
                        x > b || (self.select_last_index && x == b)
                    } else {
                        x < b || (self.select_last_index && x == b)
                    }
                }
            };
            if take {
                best = Some((i, x));
            }
        }
        best.map_or(0, |(i, _)| i as i64)
    }
}

impl Op for ArgMinMax {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, self.name())?;
        if x.rank() == 0 {
            bail!("{}: input must have rank >= 1", self.name());
        }
        let axis = norm_axis(self.axis, x.rank())?;
        if x.shape()[axis] == 0 {
            bail!("{}: cannot take the arg of an empty axis {axis} (shape {:?})", self.name(), x.shape());
        }
        let reduced: Vec<bool> = (0..x.rank()).map(|i| i == axis).collect();
        let ri = ReduceIndex::new(x.shape(), &reduced, DType::I64)?;
        let out: Vec<i64> = dispatch_all!(x.dtype(), T => {
            if T::DTYPE == DType::Bool {
                Err(Error::UnsupportedDType { op: self.name().to_string(), dtype: DType::Bool })
            } else {
                let xs = x.as_slice::<T>()?;
                Ok(ri.bases.iter().map(|&b| self.pick(ri.group(xs, b))).collect())
            }
        })?;
        Ok(vec![Tensor::from_vec(reduced_shape(x.shape(), &reduced, self.keepdims), out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let shape = inputs.first().and_then(|i| i.info).and_then(|i| i.shape.as_ref()).and_then(|dims| {
            let axis = norm_axis(self.axis, dims.len()).ok()?;
            let reduced: Vec<bool> = (0..dims.len()).map(|i| i == axis).collect();
            Some(reduced_dims(dims, &reduced, self.keepdims))
        });
        Ok(vec![ValueInfo::new("", Some(DType::I64), shape)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_ties() {
        let op = ArgMinMax { max: true, axis: 0, keepdims: true, select_last_index: false };
        assert_eq!(op.pick([1, 3, 3, 2].into_iter()), 1);
        let op = ArgMinMax { max: true, axis: 0, keepdims: true, select_last_index: true };
        assert_eq!(op.pick([1, 3, 3, 2].into_iter()), 2);
        let op = ArgMinMax { max: false, axis: 0, keepdims: true, select_last_index: true };
        assert_eq!(op.pick([1, 3, 1, 2].into_iter()), 2);
        let op = ArgMinMax { max: false, axis: 0, keepdims: true, select_last_index: false };
        assert_eq!(op.pick([2.0, f64::NAN, 1.0].into_iter()), 1);
    }
}
