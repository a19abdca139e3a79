//! Size: the input's element count as an int64 scalar.

use super::common::out;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Size;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Size))
}

impl Op for Size {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Size")?;
        Ok(vec![Tensor::scalar(x.len() as i64)])
    }

    fn infer(&self, _: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(out(Some(DType::I64), Some(vec![])))
    }
}
