//! Scaler and Normalizer (ai.onnx.ml): `(X - offset) * scale` per feature, and per-row MAX/L1/L2
//! normalization. Both give float32, `[F]` inputs are one row.

use super::ml_common::rows;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct Scaler {
    offset: Vec<f64>,
    scale: Vec<f64>,
}

pub fn build_scaler(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let get = |name: &str| -> Result<Vec<f64>> {
        Ok(cx.floats_opt(name)?.unwrap_or_default().into_iter().map(f64::from).collect())
    };
    Ok(Arc::new(Scaler { offset: get("offset")?, scale: get("scale")? }))
}

/// Value `j` of a per-feature attribute that may also be a single value for all features.
fn per_feature(v: &[f64], j: usize, default: f64) -> f64 {
    match v {
        [] => default,
        [one] => *one,
        _ => v[j],
    }
}

impl Op for Scaler {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Scaler")?;
        let (_, f, xv) = rows(x, "Scaler")?;
        for (name, v) in [("offset", &self.offset), ("scale", &self.scale)] {
            if v.len() > 1 && v.len() != f {
                bail!("Scaler: {name} has {} values for {f} features", v.len());
            }
        }
        let out: Vec<f32> = xv
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let j = i % f.max(1);
                ((v - per_feature(&self.offset, j, 0.0)) * per_feature(&self.scale, j, 1.0)) as f32
            })
            .collect();
        Ok(vec![Tensor::from_vec(x.shape().to_vec(), out)?])
    }
}

#[derive(Debug)]
pub struct Normalizer {
    norm: Norm,
}

#[derive(Debug, Clone, Copy)]
enum Norm {
    Max,
    L1,
    L2,
}

pub fn build_normalizer(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let norm = match cx.string("norm", "MAX")?.as_str() {
        "MAX" => Norm::Max,
        "L1" => Norm::L1,
        "L2" => Norm::L2,
        n => bail!("Normalizer: unknown norm '{n}'"),
    };
    Ok(Arc::new(Normalizer { norm }))
}

impl Op for Normalizer {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Normalizer")?;
        let (_, f, mut xv) = rows(x, "Normalizer")?;
        for row in xv.chunks_mut(f.max(1)) {
            let d = match self.norm {
                Norm::Max => row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v)),
                Norm::L1 => row.iter().map(|v| v.abs()).sum(),
                Norm::L2 => row.iter().map(|v| v * v).sum::<f64>().sqrt(),
            };
            if d != 0.0 {
                row.iter_mut().for_each(|v| *v /= d);
            }
        }
        let out: Vec<f32> = xv.into_iter().map(|v| v as f32).collect();
        Ok(vec![Tensor::from_vec(x.shape().to_vec(), out)?])
    }
}
