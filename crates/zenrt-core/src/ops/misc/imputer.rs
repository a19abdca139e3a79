//! Imputer (ai.onnx.ml): replaces every element equal to `replaced_value_float` (NaN matches
//! NaN) or `replaced_value_int64` by the imputed value of its feature (`imputed_value_floats` /
//! `imputed_value_int64s`, one value for all features or one per feature). Keeps the dtype.

use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct Imputer {
    imputed: Vec<f64>,
    replaced: f64,
    int: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let (imputed, replaced, int) = match (cx.floats_opt("imputed_value_floats")?, cx.ints_opt("imputed_value_int64s")?)
    {
        (Some(f), None) => {
            (f.into_iter().map(f64::from).collect::<Vec<_>>(), cx.float("replaced_value_float", 0.0)? as f64, false)
        }
        (None, Some(i)) => (i.into_iter().map(|v| v as f64).collect(), cx.int("replaced_value_int64", 0)? as f64, true),
        _ => bail!("Imputer: exactly one of imputed_value_floats and imputed_value_int64s is required"),
    };
    if imputed.is_empty() {
        bail!("Imputer: no imputed values");
    }
    Ok(Arc::new(Imputer { imputed, replaced, int }))
}

impl Op for Imputer {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Imputer")?;
        if x.dtype().is_float() == self.int {
            bail!("Imputer: a {} input for {} imputed values", x.dtype(), if self.int { "int64" } else { "float" });
        }
        let f = x.shape().last().copied().unwrap_or(1).max(1);
        if self.imputed.len() != 1 && self.imputed.len() != f {
            bail!("Imputer: {} imputed values for {f} features", self.imputed.len());
        }
        let hit = |v: f64| if self.replaced.is_nan() { v.is_nan() } else { v == self.replaced };
        let v: Vec<f64> = x
            .to_f64_vec()
            .into_iter()
            .enumerate()
            .map(|(i, v)| if hit(v) { self.imputed[if self.imputed.len() == 1 { 0 } else { i % f }] } else { v })
            .collect();
        if self.int {
            let v: Vec<i64> = v.into_iter().map(|v| v as i64).collect();
            return Tensor::from_vec(x.shape().to_vec(), v)?.cast(x.dtype()).map(|t| vec![t]);
        }
        Ok(vec![Tensor::from_vec(x.shape().to_vec(), v)?.cast(x.dtype())?])
    }
}
