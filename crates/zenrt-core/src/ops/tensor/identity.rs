//! Identity (and Dropout in inference mode, which is Identity plus an all-true mask).

use crate::ops::util::same_as_input0;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{Result, Tensor, ValueInfo};
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
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
