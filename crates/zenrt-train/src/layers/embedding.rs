//! `Embedding`: int64 indices → rows of a `[input_dim, output_dim]` table (ONNX Gather).

use super::{shape_err, EmitCx, Init, LayerImpl, ParamSpec};
use serde::{Deserialize, Serialize};
use zenrt_core::{Attr, Result};

/// Looks up `output_dim`-wide vectors for indices in `0..input_dim`; must be the first layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Embedding {
    pub input_dim: usize,
    pub output_dim: usize,
}

impl Embedding {
    pub fn new(input_dim: usize, output_dim: usize) -> Embedding {
        Embedding { input_dim, output_dim }
    }
}

impl LayerImpl for Embedding {
    fn kind(&self) -> &'static str {
        "embedding"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if self.input_dim == 0 || self.output_dim == 0 {
            return Err(shape_err("Embedding", input, "input_dim and output_dim must be positive"));
        }
        let mut out = input.to_vec();
        out.push(self.output_dim);
        Ok(out)
    }
    fn params(&self, _input: &[usize]) -> Vec<ParamSpec> {
        vec![ParamSpec::new("embeddings", vec![self.input_dim, self.output_dim], Init::Uniform(0.05))]
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, _input: &[usize]) -> Result<String> {
        let w = cx.param("embeddings");
        cx.b.op("Gather", &[&w, x], vec![("axis", Attr::Int(0))])
    }
    fn wants_indices(&self) -> bool {
        true
    }
}
