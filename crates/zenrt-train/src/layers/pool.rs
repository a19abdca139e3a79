//! `MaxPooling2D` and `AveragePooling2D` (valid padding; strides default to the pool size).

use super::{shape_err, window_out, EmitCx, LayerImpl, Size2};
use crate::model::builder::ints;
use serde::{Deserialize, Serialize};
use zenrt_core::Result;

fn pool_shape(name: &str, pool: Size2, strides: Option<Size2>, input: &[usize]) -> Result<Vec<usize>> {
    let err = |m: String| shape_err(name, input, m);
    if input.len() != 3 {
        return Err(err("expects channels × height × width (rank 3)".into()));
    }
    let (k, s) = (pool.hw(), strides.unwrap_or(pool).hw());
    if k.contains(&0) || s.contains(&0) {
        return Err(err("pool size and strides must be positive".into()));
    }
    let mut out = vec![input[0]];
    for a in 0..2 {
        out.push(window_out(input[1 + a], k[a], s[a], 0).ok_or_else(|| {
            err(format!("pool {}×{} is larger than the {}×{} image", k[0], k[1], input[1], input[2]))
        })?);
    }
    Ok(out)
}

fn pool_emit(cx: &mut EmitCx, op: &str, pool: Size2, strides: Option<Size2>, x: &str) -> Result<String> {
    cx.b.op(op, &[x], vec![("kernel_shape", ints(&pool.hw())), ("strides", ints(&strides.unwrap_or(pool).hw()))])
}

/// Max over `pool_size` windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPooling2D {
    pub pool_size: Size2,
    #[serde(default)]
    pub strides: Option<Size2>,
}

impl MaxPooling2D {
    pub fn new(pool_size: impl Into<Size2>) -> MaxPooling2D {
        MaxPooling2D { pool_size: pool_size.into(), strides: None }
    }
}

impl LayerImpl for MaxPooling2D {
    fn kind(&self) -> &'static str {
        "max_pooling2d"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        pool_shape("MaxPooling2D", self.pool_size, self.strides, input)
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, _input: &[usize]) -> Result<String> {
        pool_emit(cx, "MaxPool", self.pool_size, self.strides, x)
    }
}

/// Mean over `pool_size` windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AveragePooling2D {
    pub pool_size: Size2,
    #[serde(default)]
    pub strides: Option<Size2>,
}

impl AveragePooling2D {
    pub fn new(pool_size: impl Into<Size2>) -> AveragePooling2D {
        AveragePooling2D { pool_size: pool_size.into(), strides: None }
    }
}

impl LayerImpl for AveragePooling2D {
    fn kind(&self) -> &'static str {
        "average_pooling2d"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        pool_shape("AveragePooling2D", self.pool_size, self.strides, input)
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, _input: &[usize]) -> Result<String> {
        pool_emit(cx, "AveragePool", self.pool_size, self.strides, x)
    }
}
