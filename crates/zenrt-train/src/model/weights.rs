//! Parameters to and from safetensors files (the `safetensors` crate's format: a JSON header of
//! names, dtypes, shapes and offsets, then little-endian data).

use super::network::Network;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::path::Path;
use zenrt_core::{Error, Result, Tensor};

fn st_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: not a usable safetensors file: {e}", path.display()))
}

impl Network {
    /// Writes every parameter as float32.
    pub fn save_weights(&self, path: &Path) -> Result<()> {
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .params
            .iter()
            .map(|p| {
                let v = p.value.as_slice::<f32>()?;
                Ok((p.name.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect(), p.value.shape().to_vec()))
            })
            .collect::<Result<_>>()?;
        let views = bytes
            .iter()
            .map(|(n, b, s)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b).map_err(|e| st_err(path, e))?)))
            .collect::<Result<Vec<_>>>()?;
        let out = safetensors::serialize(views, &None).map_err(|e| st_err(path, e))?;
        std::fs::write(path, out).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })
    }

    /// Reads a safetensors file and replaces the parameters it names (float32, or float64/float16
    /// converted); names and shapes must match the model's.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        let values = read_safetensors(path)?;
        self.set_params(values).map_err(|e| e.context(path.display().to_string()))
    }
}

/// Every tensor of a safetensors file, converted to float32.
pub fn read_safetensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| st_err(path, e))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let v: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                .collect(),
            Dtype::F16 => data.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            other => return Err(st_err(path, format!("tensor '{name}' has dtype {other:?}; floats are expected"))),
        };
        let t = Tensor::from_vec(view.shape().to_vec(), v).map_err(|e| e.context(format!("tensor '{name}'")))?;
        out.push((name, t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
