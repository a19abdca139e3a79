//! Unsqueeze: inserts size-1 axes at `axes` (positions in the output; attribute before opset 13).

use super::common::{const_ints, dtype_of, norm_axes, out, shape_of};
use crate::ops::util::ints_of;
use crate::ops::util::reshape_inplace;
use crate::ops::{input, BuildCtx, ExecCtx, InArg, InferInput, Op};
use crate::{Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Unsqueeze {
    pub attr_axes: Option<Vec<i64>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let attr_axes = if cx.opset < 13 { Some(cx.ints_opt("axes")?.unwrap_or_default()) } else { None };
    Ok(Arc::new(Unsqueeze { attr_axes }))
}

/// The output shape: `shape` with 1s inserted at output positions `axes`.
pub fn unsqueeze_shape<D: Clone>(shape: &[D], axes: &[i64], one: D) -> Result<Vec<D>> {
    let r = shape.len() + axes.len();
    let a = norm_axes(axes, r)?;
    let mut it = shape.iter();
    Ok((0..r).map(|i| if a.contains(&i) { one.clone() } else { it.next().cloned().unwrap_or(one.clone()) }).collect())
}

impl Unsqueeze {
    fn new_shape(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<usize>> {
        let x = input(inputs, 0, "Unsqueeze")?;
        let axes = match &self.attr_axes {
            Some(a) => a.clone(),
            None => ints_of(input(inputs, 1, "Unsqueeze")?)?,
        };
        unsqueeze_shape(x.shape(), &axes, 1)
    }
}

impl Op for Unsqueeze {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let shape = self.new_shape(inputs)?;
        Ok(vec![input(inputs, 0, "Unsqueeze")?.clone().reshape(shape)?])
    }

    /// Moves the data instead of copying it when the input dies here.
    fn inplace_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn run_inplace(&self, _: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        reshape_inplace(inputs, "Unsqueeze", |r| self.new_shape(r))
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let axes = match &self.attr_axes {
            Some(a) => Some(a.clone()),
            None => const_ints(inputs, 1),
        };
        let shape = match (shape_of(inputs, 0), axes) {
            (Some(s), Some(a)) => unsqueeze_shape(&s, &a, Dim::Known(1)).ok(),
            _ => None,
        };
        Ok(out(dtype_of(inputs, 0), shape))
    }
}
