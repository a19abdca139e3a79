//! A small .npz reader: the arrays `np.savez` writes (little-endian, C order) as tract tensors.

use std::io::Read;
use std::path::Path;
use tract_onnx::prelude::{Tensor, TractResult};

/// Every array of an .npz, in file order, named without the `.npy` suffix.
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| e.to_string())?;
        let name = entry.name().trim_end_matches(".npy").to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| format!("{name}: {e}"))?;
        let t = read_npy(&bytes).map_err(|e| format!("array '{name}': {e}"))?;
        out.push((name, t));
    }
    Ok(out)
}

/// One .npy file's bytes as a tensor.
fn read_npy(b: &[u8]) -> Result<Tensor, String> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("not an .npy array (bad magic)".into());
    }
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = b.get(start..start + hlen).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no descr")?;
    let descr = descr.strip_prefix('\'').and_then(|d| d.split('\'').next()).ok_or("bad descr")?;
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_s = dict_value(header, "shape").ok_or("header has no shape")?;
    let inner = shape_s.trim_start_matches('(');
    let inner = inner.get(..inner.find(')').ok_or("bad shape")?).ok_or("bad shape")?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("bad dim '{s}'")))
        .collect::<Result<_, _>>()?;
    let data = &b[start + hlen..];
    let n: usize = shape.iter().product();
    let t = match descr {
        "<f4" => tensor::<f32, 4>(&shape, data, n, f32::from_le_bytes),
        "<f8" => tensor::<f64, 8>(&shape, data, n, f64::from_le_bytes),
        "<i8" => tensor::<i64, 8>(&shape, data, n, i64::from_le_bytes),
        "<i4" => tensor::<i32, 4>(&shape, data, n, i32::from_le_bytes),
        "|b1" => tensor::<bool, 1>(&shape, data, n, |x: [u8; 1]| x[0] != 0),
        "|u1" => tensor::<u8, 1>(&shape, data, n, |x: [u8; 1]| x[0]),
        "|i1" => tensor::<i8, 1>(&shape, data, n, i8::from_le_bytes),
        other => return Err(format!("unsupported dtype '{other}'")),
    };
    t.map_err(|e| e.to_string())
}

fn tensor<T: tract_onnx::prelude::Datum + Copy, const W: usize>(
    shape: &[usize],
    data: &[u8],
    n: usize,
    conv: impl Fn([u8; W]) -> T,
) -> TractResult<Tensor> {
    let bytes = n.checked_mul(W).filter(|&b| b <= data.len());
    let Some(bytes) = bytes else {
        anyhow::bail!("data holds {} bytes, shape {shape:?} needs {}", data.len(), n.saturating_mul(W));
    };
    let v: Vec<T> = data[..bytes]
        .chunks_exact(W)
        .map(|c| {
            let mut a = [0u8; W];
            a.copy_from_slice(c);
            conv(a)
        })
        .collect();
    Tensor::from_shape(shape, &v)
}

/// The text after `'key':` in a Python dict literal, up to the end of the header.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let at = header.find(&pat)? + pat.len();
    Some(header[at..].trim_start())
}
