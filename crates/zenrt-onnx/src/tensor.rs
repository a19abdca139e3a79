//! TensorProto ⇄ Tensor, including every storage form and external data.

use crate::onnx_proto::TensorProto;
use half::{bf16, f16};
use prost::Message;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use zenrt_core::{checked_numel, DType, Error, Result, Tensor, TensorData};

fn terr(name: &str, msg: impl Into<String>) -> Error {
    Error::InvalidTensor { name: name.to_string(), msg: msg.into() }
}

/// Resolves an external-data `location` against the model's folder, refusing absolute paths,
/// `..` components and links that lead outside the folder.
fn confined_path(base: &Path, location: &str, tensor: &str) -> Result<PathBuf> {
    let err = |msg: String| Error::ExternalData { tensor: tensor.to_string(), msg };
    let rel = Path::new(location);
    if location.is_empty() {
        return Err(err("empty location".into()));
    }
    if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(err(format!("location '{location}' must be a relative path inside the model's folder")));
    }
    let base_c = base.canonicalize().map_err(|e| err(format!("model folder {}: {e}", base.display())))?;
    let full = base_c.join(rel);
    let full_c = full.canonicalize().map_err(|e| err(format!("cannot open '{}': {e}", full.display())))?;
    if !full_c.starts_with(&base_c) {
        return Err(err(format!("location '{location}' resolves to {} outside the model's folder", full_c.display())));
    }
    Ok(full_c)
}

fn read_external(t: &TensorProto, name: &str, base: Option<&Path>, nbytes: usize) -> Result<Vec<u8>> {
    let err = |msg: String| Error::ExternalData { tensor: name.to_string(), msg };
    let base =
        base.ok_or_else(|| err("model was loaded from bytes, so external data has no folder to come from".into()))?;
    let mut location = None;
    let mut offset: u64 = 0;
    let mut length: Option<u64> = None;
    for kv in &t.external_data {
        let v = kv.value.clone().unwrap_or_default();
        match kv.key.as_deref().unwrap_or("") {
            "location" => location = Some(v),
            "offset" => offset = v.parse().map_err(|_| err(format!("bad offset '{v}'")))?,
            "length" => length = Some(v.parse().map_err(|_| err(format!("bad length '{v}'")))?),
            _ => {}
        }
    }
    let location = location.ok_or_else(|| err("no 'location' key".into()))?;
    let path = confined_path(base, &location, name)?;
    let mut f = std::fs::File::open(&path).map_err(|e| Error::Io { path: path.clone(), source: e })?;
    let size = f.metadata().map_err(|e| Error::Io { path: path.clone(), source: e })?.len();
    let len = length.unwrap_or(nbytes as u64);
    if len != nbytes as u64 {
        return Err(err(format!("length {len} does not match the {nbytes} bytes the shape needs")));
    }
    if offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(err(format!(
            "bytes {offset}..{} are past the end of {} ({size} bytes)",
            offset.saturating_add(len),
            path.display()
        )));
    }
    f.seek(SeekFrom::Start(offset)).map_err(|e| Error::Io { path: path.clone(), source: e })?;
    let mut buf = vec![0u8; nbytes];
    f.read_exact(&mut buf).map_err(|e| Error::Io { path, source: e })?;
    Ok(buf)
}

fn from_le<T, const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes.chunks_exact(N).map(|c| f(c.try_into().expect("chunk size"))).collect()
}

fn decode_raw(dtype: DType, b: &[u8]) -> TensorData {
    match dtype {
        DType::F32 => TensorData::F32(from_le(b, f32::from_le_bytes)),
        DType::F64 => TensorData::F64(from_le(b, f64::from_le_bytes)),
        DType::F16 => TensorData::F16(from_le(b, |x| f16::from_bits(u16::from_le_bytes(x)))),
        DType::BF16 => TensorData::BF16(from_le(b, |x| bf16::from_bits(u16::from_le_bytes(x)))),
        DType::I8 => TensorData::I8(b.iter().map(|&x| x as i8).collect()),
        DType::U8 => TensorData::U8(b.to_vec()),
        DType::Bool => TensorData::Bool(b.iter().map(|&x| x != 0).collect()),
        DType::I16 => TensorData::I16(from_le(b, i16::from_le_bytes)),
        DType::U16 => TensorData::U16(from_le(b, u16::from_le_bytes)),
        DType::I32 => TensorData::I32(from_le(b, i32::from_le_bytes)),
        DType::U32 => TensorData::U32(from_le(b, u32::from_le_bytes)),
        DType::I64 => TensorData::I64(from_le(b, i64::from_le_bytes)),
        DType::U64 => TensorData::U64(from_le(b, u64::from_le_bytes)),
    }
}

/// Decodes a TensorProto. `base` is the model's folder, for external data.
pub fn tensor_from_proto(t: &TensorProto, base: Option<&Path>) -> Result<Tensor> {
    let name = t.name.clone().unwrap_or_default();
    let code = t.data_type.unwrap_or(0);
    let dtype = DType::from_onnx_code(code).ok_or_else(|| {
        let what = match code {
            8 => "string".to_string(),
            14 | 15 => "complex".to_string(),
            17..=20 | 23..=26 => "float8/4-bit".to_string(),
            21 | 22 => "4-bit integer".to_string(),
            0 => "undefined".to_string(),
            c => format!("code {c}"),
        };
        terr(&name, format!("data type {what} is not supported"))
    })?;
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(terr(&name, format!("negative dimension {d} in {:?}", t.dims)));
        }
        shape.push(usize::try_from(d).map_err(|_| terr(&name, format!("dimension {d} too large")))?);
    }
    let n = checked_numel(&shape, dtype, &format!("tensor '{name}'"))?;
    let nbytes = n * dtype.size();
    let count_err =
        |got: usize| terr(&name, format!("shape {shape:?} needs {n} values but the typed data field holds {got}"));

    let data = if t.data_location == Some(1) {
        decode_raw(dtype, &read_external(t, &name, base, nbytes)?)
    } else if let Some(raw) = &t.raw_data {
        if raw.len() != nbytes {
            return Err(terr(
                &name,
                format!("raw_data has {} bytes but shape {shape:?} of {dtype} needs {nbytes}", raw.len()),
            ));
        }
        decode_raw(dtype, raw)
    } else {
        let i32s = &t.int32_data;
        let check = |len: usize| if len == n { Ok(()) } else { Err(count_err(len)) };
        match dtype {
            DType::F32 => {
                check(t.float_data.len())?;
                TensorData::F32(t.float_data.clone())
            }
            DType::F64 => {
                check(t.double_data.len())?;
                TensorData::F64(t.double_data.clone())
            }
            DType::I64 => {
                check(t.int64_data.len())?;
                TensorData::I64(t.int64_data.clone())
            }
            DType::U64 => {
                check(t.uint64_data.len())?;
                TensorData::U64(t.uint64_data.clone())
            }
            DType::U32 => {
                check(t.uint64_data.len())?;
                TensorData::U32(t.uint64_data.iter().map(|&x| x as u32).collect())
            }
            _ => {
                check(i32s.len())?;
                match dtype {
                    DType::I32 => TensorData::I32(i32s.clone()),
                    DType::I16 => TensorData::I16(i32s.iter().map(|&x| x as i16).collect()),
                    DType::I8 => TensorData::I8(i32s.iter().map(|&x| x as i8).collect()),
                    DType::U16 => TensorData::U16(i32s.iter().map(|&x| x as u16).collect()),
                    DType::U8 => TensorData::U8(i32s.iter().map(|&x| x as u8).collect()),
                    DType::Bool => TensorData::Bool(i32s.iter().map(|&x| x != 0).collect()),
                    DType::F16 => TensorData::F16(i32s.iter().map(|&x| f16::from_bits(x as u16)).collect()),
                    DType::BF16 => TensorData::BF16(i32s.iter().map(|&x| bf16::from_bits(x as u16)).collect()),
                    _ => unreachable!("handled above"),
                }
            }
        }
    };
    Tensor::new(shape, data).map_err(|e| terr(&name, e.to_string()))
}

/// Encodes a tensor as a TensorProto with raw_data (little-endian).
pub fn tensor_to_proto(name: &str, t: &Tensor) -> TensorProto {
    let mut raw = Vec::with_capacity(t.nbytes());
    match t.data() {
        TensorData::F32(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        TensorData::F64(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        TensorData::F16(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_bits().to_le_bytes())),
        TensorData::BF16(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_bits().to_le_bytes())),
        TensorData::I8(v) => v.iter().for_each(|x| raw.push(*x as u8)),
        TensorData::U8(v) => raw.extend_from_slice(v),
        TensorData::Bool(v) => v.iter().for_each(|x| raw.push(*x as u8)),
        TensorData::I16(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        TensorData::U16(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        TensorData::I32(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        TensorData::U32(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        TensorData::I64(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        TensorData::U64(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
    }
    TensorProto {
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type: Some(t.dtype().onnx_code()),
        name: Some(name.to_string()),
        raw_data: Some(raw.into()),
        ..Default::default()
    }
}

/// Reads a serialized TensorProto file (the `input_0.pb` files of ONNX test data).
/// Returns the tensor's name (may be empty) and value.
pub fn read_tensor_file(path: &Path) -> Result<(String, Tensor)> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let tp = TensorProto::decode(bytes.as_slice())
        .map_err(|e| Error::Decode { what: path.display().to_string(), msg: e.to_string() })?;
    let t = tensor_from_proto(&tp, path.parent()).map_err(|e| e.context(path.display().to_string()))?;
    Ok((tp.name.unwrap_or_default(), t))
}
