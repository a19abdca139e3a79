//! Constant: a tensor attribute (`value`, `sparse_value`) or a scalar/list attribute
//! (`value_float(s)`, `value_int(s)`) as the output.

use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{Attr, Dim, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Constant {
    pub value: Tensor,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let value = if let Some(Attr::Tensor(t)) = cx.get("value").or_else(|| cx.get("sparse_value")) {
        t.clone()
    } else if let Some(v) = cx.float_opt("value_float")? {
        Tensor::scalar(v)
    } else if let Some(v) = cx.floats_opt("value_floats")? {
        Tensor::from_vec(vec![v.len()], v)?
    } else if let Some(v) = cx.int_opt("value_int")? {
        Tensor::scalar(v)
    } else if let Some(v) = cx.ints_opt("value_ints")? {
        Tensor::from_vec(vec![v.len()], v)?
    } else if cx.has("value_string") || cx.has("value_strings") {
        return Err(Error::Unsupported("string constants".into()));
    } else {
        return Err(Error::Attr { attr: "value".into(), msg: "Constant has no value attribute".into() });
    };
    Ok(Arc::new(Constant { value }))
}

impl Op for Constant {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![self.value.clone()])
    }
    fn infer(&self, _: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(vec![ValueInfo::new(
            "",
            Some(self.value.dtype()),
            Some(self.value.shape().iter().map(|&d| Dim::Known(d)).collect()),
        )])
    }
}
