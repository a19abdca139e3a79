//! Identity (and Dropout in inference mode, which is Identity plus an all-true mask).

use crate::ops::util::reshape_inplace;
use crate::ops::util::same_as_input0;
use crate::ops::{input, BuildCtx, ExecCtx, InArg, InferInput, Op};
use crate::{Error, Result, Tensor, Value, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Identity;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Identity))
}

impl Op for Identity {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![input(inputs, 0, "Identity")?.clone()])
    }
    /// Sequences and optionals pass through unchanged too.
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let v = inputs
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| Error::Invalid("Identity: required input #0 is missing".into()))?;
        Ok(vec![v.clone()])
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
    /// Moves the data instead of copying it when the input dies here.
    fn inplace_inputs(&self) -> &'static [usize] {
        &[0]
    }
    fn run_inplace(&self, _: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        reshape_inplace(inputs, "Identity", |r| Ok(input(r, 0, "Identity")?.shape().to_vec()))
    }
}
