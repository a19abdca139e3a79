//! ZipMap (ai.onnx.ml): turns the rows of a float `[N, C]` score tensor into a sequence of N maps
//! from the class labels (`classlabels_int64s` or `classlabels_strings`) to the scores, held as a
//! [`Value::Maps`] (keys once, the scores as the tensor).

use crate::ops::{BuildCtx, ExecCtx, Op};
use crate::value::{MapKeys, MapSeq};
use crate::{bail, DType, Result, Tensor, Value};
use std::sync::Arc;

#[derive(Debug)]
pub struct ZipMap {
    keys: MapKeys,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let keys = match (cx.strings_opt("classlabels_strings")?, cx.ints_opt("classlabels_int64s")?) {
        (Some(s), None) => MapKeys::Str(s),
        (None, Some(i)) => MapKeys::Int(i),
        _ => bail!("ZipMap: exactly one of classlabels_strings and classlabels_int64s is required"),
    };
    Ok(Arc::new(ZipMap { keys }))
}

impl Op for ZipMap {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(super::ml_common::values_only("ZipMap"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = super::ml_common::tensor_input(inputs, "ZipMap")?;
        let x = match x.shape() {
            [_, _] => x.cast(DType::F32)?,
            [c] => x.cast(DType::F32)?.reshape(vec![1, *c])?,
            s => bail!("ZipMap: X must be [N, C], got {s:?}"),
        };
        if x.shape()[1] != self.keys.len() {
            bail!("ZipMap: {} scores per row for {} class labels", x.shape()[1], self.keys.len());
        }
        Ok(vec![Value::Maps(Arc::new(MapSeq::new(self.keys.clone(), x)?))])
    }
}
