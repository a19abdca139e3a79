//! Squeeze: removes size-1 axes (`axes` attribute before opset 13, input after; all size-1 axes
//! when absent).

use super::common::{const_ints, dtype_of, norm_axes, out, shape_of};
use crate::ops::util::ints_of;
use crate::ops::util::reshape_inplace;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InArg, InferInput, Op};
use crate::{bail, Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Squeeze {
    pub attr_axes: Option<Vec<i64>>,
    pub from_input: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let from_input = cx.opset >= 13;
    Ok(Arc::new(Squeeze { attr_axes: if from_input { None } else { cx.ints_opt("axes")? }, from_input }))
}

impl Squeeze {
    fn new_shape(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<usize>> {
        let x = input(inputs, 0, "Squeeze")?;
        let axes =
            if self.from_input { opt_input(inputs, 1).map(ints_of).transpose()? } else { self.attr_axes.clone() };
        let shape: Vec<usize> = match axes {
            Some(a) => {
                let a = norm_axes(&a, x.rank())?;
                for &i in &a {
                    if x.shape()[i] != 1 {
                        bail!("Squeeze: axis {i} of shape {:?} is not 1", x.shape());
                    }
                }
                x.shape().iter().enumerate().filter(|(i, _)| !a.contains(i)).map(|(_, &d)| d).collect()
            }
            None => x.shape().iter().copied().filter(|&d| d != 1).collect(),
        };
        Ok(shape)
    }
}

impl Op for Squeeze {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let shape = self.new_shape(inputs)?;
        Ok(vec![input(inputs, 0, "Squeeze")?.clone().reshape(shape)?])
    }

    /// Moves the data instead of copying it when the input dies here.
    fn inplace_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn run_inplace(&self, _: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        reshape_inplace(inputs, "Squeeze", |r| self.new_shape(r))
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dt = dtype_of(inputs, 0);
        let axes = if self.from_input {
            if inputs.len() > 1 && inputs[1].info.is_some() {
                match const_ints(inputs, 1) {
                    Some(a) => Some(a),
                    None => return Ok(out(dt, None)),
                }
            } else {
                None
            }
        } else {
            self.attr_axes.clone()
        };
        let shape = shape_of(inputs, 0).and_then(|s| match axes {
            Some(a) => {
                let a = norm_axes(&a, s.len()).ok()?;
                Some(s.iter().enumerate().filter(|(i, _)| !a.contains(i)).map(|(_, d)| d.clone()).collect())
            }
            None => {
                if s.iter().all(|d| matches!(d, Dim::Known(_))) {
                    Some(s.into_iter().filter(|d| *d != Dim::Known(1)).collect())
                } else {
                    None
                }
            }
        });
        Ok(out(dt, shape))
    }
}
