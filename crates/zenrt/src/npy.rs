//! NumPy `.npy` and `.npz` files: read and write [`Tensor`]s.
//!
//! * `.npy`: format versions 1, 2 and 3; little or big endian; C order (Fortran-ordered arrays
//!   are transposed into C order on read); dtypes `f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1`.
//!   `bfloat16` has no NumPy dtype, so writing one is an [`Error::UnsupportedDType`].
//! * `.npz`: a zip archive (stored or deflate) of `.npy` files; a tensor's name is its entry name
//!   without the `.npy` suffix, exactly as `numpy.load(...)[name]`.
//!
//! Files are untrusted: a header's shape is checked against the bytes actually present before
//! anything is allocated, and every problem is a typed [`Error`] naming the file (and key).

use crate::{DType, Error, Result, Tensor, TensorData};
use half::f16;
use std::io::{Read, Write};
use std::path::Path;
use zenrt_core::{checked_numel, Elem};

const MAGIC: &[u8] = b"\x93NUMPY";
/// Largest header accepted (NumPy itself refuses headers over 10 000 bytes by default).
const MAX_HEADER: usize = 1 << 20;

fn bad(what: &str, msg: impl Into<String>) -> Error {
    Error::InvalidTensor { name: what.to_string(), msg: msg.into() }
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source: e }
}

// ---------------------------------------------------------------------------------------------
// Header: a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum PyVal {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Seq(Vec<PyVal>),
    Dict(Vec<(PyVal, PyVal)>),
}

struct PyParser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl PyParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> std::result::Result<PyVal, String> {
        if self.depth > 16 {
            return Err("header nests too deeply".into());
        }
        match self.peek() {
            None => Err("header ends early".into()),
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    if self.s[self.i] == b'\\' {
                        self.i += 1;
                    }
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return Err("unterminated string in header".into());
                }
                let v = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
                self.i += 1;
                Ok(PyVal::Str(v))
            }
            Some(open @ (b'(' | b'[' | b'{')) => {
                self.i += 1;
                self.depth += 1;
                let close = match open {
                    b'(' => b')',
                    b'[' => b']',
                    _ => b'}',
                };
                let mut items = Vec::new();
                let mut pairs = Vec::new();
                loop {
                    if self.eat(close) {
                        break;
                    }
                    let v = self.value()?;
                    if open == b'{' {
                        if !self.eat(b':') {
                            return Err("expected ':' in header dict".into());
                        }
                        pairs.push((v, self.value()?));
                    } else {
                        items.push(v);
                    }
                    if self.eat(close) {
                        break;
                    }
                    if !self.eat(b',') {
                        return Err(format!("expected ',' or '{}' in header at byte {}", close as char, self.i));
                    }
                }
                self.depth -= 1;
                Ok(if open == b'{' { PyVal::Dict(pairs) } else { PyVal::Seq(items) })
            }
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' => {
                let start = self.i;
                self.i += 1;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let txt = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                let v: i128 = txt.parse().map_err(|_| format!("bad integer '{txt}' in header"))?;
                // Python 2 long suffix: (3L, 4L).
                if self.i < self.s.len() && (self.s[self.i] == b'L' || self.s[self.i] == b'l') {
                    self.i += 1;
                }
                Ok(PyVal::Int(v))
            }
            Some(_) => {
                for (word, v) in [("True", PyVal::Bool(true)), ("False", PyVal::Bool(false)), ("None", PyVal::None)] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                Err(format!("unexpected character '{}' in header at byte {}", self.s[self.i] as char, self.i))
            }
        }
    }
}

/// The parsed header of one `.npy` array.
#[derive(Debug, Clone, PartialEq)]
struct Header {
    dtype: DType,
    big_endian: bool,
    fortran: bool,
    shape: Vec<usize>,
}

fn parse_descr(descr: &str) -> std::result::Result<(DType, bool), String> {
    let b = descr.as_bytes();
    let (order, rest) = match b.first() {
        Some(c @ (b'<' | b'>' | b'|' | b'=')) => (*c, &descr[1..]),
        _ => (b'=', descr),
    };
    let big = match order {
        b'>' => true,
        b'=' => cfg!(target_endian = "big"),
        _ => false,
    };
    let dtype = match rest {
        "f2" | "e" => DType::F16,
        "f4" | "f" => DType::F32,
        "f8" | "d" => DType::F64,
        "i1" | "b" => DType::I8,
        "i2" | "h" => DType::I16,
        "i4" => DType::I32,
        "i8" | "q" => DType::I64,
        "u1" | "B" => DType::U8,
        "u2" | "H" => DType::U16,
        "u4" => DType::U32,
        "u8" | "Q" => DType::U64,
        "b1" | "?" => DType::Bool,
        _ => return Err(format!("dtype '{descr}' is not supported (supported: f2 f4 f8 i1-i8 u1-u8 b1)")),
    };
    Ok((dtype, big && dtype.size() > 1))
}

fn parse_header(text: &[u8]) -> std::result::Result<Header, String> {
    let mut p = PyParser { s: text, i: 0, depth: 0 };
    let PyVal::Dict(pairs) = p.value()? else {
        return Err("header is not a dict".into());
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in pairs {
        match (k, v) {
            (PyVal::Str(k), PyVal::Str(d)) if k == "descr" => descr = Some(d),
            (PyVal::Str(k), PyVal::Seq(_) | PyVal::Dict(_)) if k == "descr" => {
                return Err("structured (record) dtypes are not supported".into())
            }
            (PyVal::Str(k), PyVal::Bool(b)) if k == "fortran_order" => fortran = Some(b),
            (PyVal::Str(k), PyVal::Seq(dims)) if k == "shape" => {
                let mut s = Vec::with_capacity(dims.len().min(64));
                for d in dims {
                    match d {
                        PyVal::Int(n) if n >= 0 => {
                            s.push(usize::try_from(n).map_err(|_| format!("dimension {n} is too large"))?)
                        }
                        PyVal::Int(n) => return Err(format!("negative dimension {n} in shape")),
                        other => return Err(format!("bad dimension {other:?} in shape")),
                    }
                }
                shape = Some(s);
            }
            (PyVal::Str(k), v) if k == "descr" || k == "fortran_order" || k == "shape" => {
                return Err(format!("header key '{k}' has an unexpected value {v:?}"))
            }
            _ => {}
        }
    }
    let descr = descr.ok_or("header has no 'descr'")?;
    let (dtype, big_endian) = parse_descr(&descr)?;
    Ok(Header {
        dtype,
        big_endian,
        fortran: fortran.ok_or("header has no 'fortran_order'")?,
        shape: shape.ok_or("header has no 'shape'")?,
    })
}

/// Reads magic, version and header from `r`; returns the header and the number of bytes consumed.
fn read_header(r: &mut impl Read, what: &str) -> Result<(Header, u64)> {
    let trunc = |e: std::io::Error| bad(what, format!("truncated or unreadable .npy header: {e}"));
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre).map_err(trunc)?;
    if &pre[..6] != MAGIC {
        return Err(bad(what, "not a .npy file (bad magic bytes)"));
    }
    let major = pre[6];
    let hlen = match major {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map_err(trunc)?;
            u16::from_le_bytes(b) as usize
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(trunc)?;
            u32::from_le_bytes(b) as usize
        }
        v => return Err(bad(what, format!(".npy format version {v}.{} is not supported", pre[7]))),
    };
    if hlen > MAX_HEADER {
        return Err(bad(what, format!(".npy header of {hlen} bytes is larger than the limit of {MAX_HEADER}")));
    }
    let mut text = vec![0u8; hlen];
    r.read_exact(&mut text).map_err(trunc)?;
    if major < 3 && !text.is_ascii() {
        return Err(bad(what, "header of a version 1/2 .npy file must be ASCII"));
    }
    let h = parse_header(&text).map_err(|m| bad(what, format!("bad .npy header: {m}")))?;
    let consumed = 8 + if major == 1 { 2 } else { 4 } + hlen as u64;
    Ok((h, consumed))
}

fn decode(dtype: DType, big: bool, b: &[u8]) -> TensorData {
    macro_rules! conv {
        ($t:ty, $n:literal) => {
            b.chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                    if big {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }
                })
                .collect()
        };
    }
    match dtype {
        DType::F32 => TensorData::F32(conv!(f32, 4)),
        DType::F64 => TensorData::F64(conv!(f64, 8)),
        DType::F16 => TensorData::F16({
            let v: Vec<u16> = conv!(u16, 2);
            v.into_iter().map(f16::from_bits).collect()
        }),
        DType::BF16 => TensorData::BF16({
            let v: Vec<u16> = conv!(u16, 2);
            v.into_iter().map(half::bf16::from_bits).collect()
        }),
        DType::I8 => TensorData::I8(b.iter().map(|&x| x as i8).collect()),
        DType::U8 => TensorData::U8(b.to_vec()),
        DType::Bool => TensorData::Bool(b.iter().map(|&x| x != 0).collect()),
        DType::I16 => TensorData::I16(conv!(i16, 2)),
        DType::U16 => TensorData::U16(conv!(u16, 2)),
        DType::I32 => TensorData::I32(conv!(i32, 4)),
        DType::U32 => TensorData::U32(conv!(u32, 4)),
        DType::I64 => TensorData::I64(conv!(i64, 8)),
        DType::U64 => TensorData::U64(conv!(u64, 8)),
    }
}

/// Reorders Fortran-ordered (column-major) data of `shape` into C order.
fn fortran_to_c(shape: &[usize], data: TensorData) -> Result<TensorData> {
    if shape.len() < 2 {
        return Ok(data);
    }
    zenrt_core::dispatch_all!(data.dtype(), T => {
        let src = T::slice(&data).unwrap_or(&[]);
        let rank = shape.len();
        // Fortran strides: first dim fastest.
        let mut fstr = vec![1usize; rank];
        for i in 1..rank {
            fstr[i] = fstr[i - 1] * shape[i - 1];
        }
        let mut out = Vec::with_capacity(src.len());
        let mut idx = vec![0usize; rank];
        for _ in 0..src.len() {
            let off: usize = idx.iter().zip(&fstr).map(|(a, b)| a * b).sum();
            out.push(src[off]);
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(T::wrap(out))
    })
}

/// Reads one array from a stream. `available` is how many bytes the stream can hold at most
/// (file or entry size) when known; the data size the header claims is checked against it
/// before allocating, and reading never allocates more than what actually arrives.
fn read_npy_stream(r: &mut impl Read, available: Option<u64>, what: &str) -> Result<Tensor> {
    let (h, consumed) = read_header(r, what)?;
    let n = checked_numel(&h.shape, h.dtype, what).map_err(|e| e.context(what.to_string()))?;
    let nbytes = (n as u64) * h.dtype.size() as u64;
    if let Some(avail) = available {
        let have = avail.saturating_sub(consumed);
        if have < nbytes {
            return Err(bad(
                what,
                format!(
                    "truncated: shape {:?} of {} needs {nbytes} data bytes but only {have} are present",
                    h.shape, h.dtype
                ),
            ));
        }
        if have > nbytes {
            return Err(bad(
                what,
                format!("{} unexpected bytes after the data of shape {:?} of {}", have - nbytes, h.shape, h.dtype),
            ));
        }
    }
    let mut buf = Vec::with_capacity((nbytes as usize).min(64 << 20));
    r.take(nbytes).read_to_end(&mut buf).map_err(|e| bad(what, format!("cannot read data: {e}")))?;
    if (buf.len() as u64) < nbytes {
        return Err(bad(
            what,
            format!(
                "truncated: shape {:?} of {} needs {nbytes} data bytes but only {} are present",
                h.shape,
                h.dtype,
                buf.len()
            ),
        ));
    }
    let mut data = decode(h.dtype, h.big_endian, &buf);
    if h.fortran {
        data = fortran_to_c(&h.shape, data)?;
    }
    Tensor::new(h.shape, data).map_err(|e| bad(what, e.to_string()))
}

/// Decodes a `.npy` file held in memory. `what` names it in errors.
pub fn npy_from_bytes(bytes: &[u8], what: &str) -> Result<Tensor> {
    read_npy_stream(&mut &bytes[..], Some(bytes.len() as u64), what)
}

/// Reads a `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let what = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let len = f.metadata().map_err(|e| io_err(path, e))?.len();
    read_npy_stream(&mut std::io::BufReader::new(f), Some(len), &what)
}

fn descr_of(dtype: DType) -> Result<&'static str> {
    Ok(match dtype {
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
        DType::BF16 => return Err(Error::UnsupportedDType { op: ".npy (NumPy has no bfloat16)".into(), dtype }),
    })
}

/// Encodes a tensor as a `.npy` file (version 1, or 2 for huge headers; little endian, C order).
pub fn npy_to_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let descr = descr_of(t.dtype())?;
    let shape = match t.shape() {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        s => format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad with spaces and end with '\n' so that the data starts at a multiple of 64 bytes.
    let (version, prefix) = if header.len() + 1 + 10 <= u16::MAX as usize { (1u8, 10usize) } else { (2u8, 12usize) };
    let total = (prefix + header.len() + 1).div_ceil(64) * 64;
    header.push_str(&" ".repeat(total - prefix - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total + t.nbytes());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    match t.data() {
        TensorData::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::F16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes())),
        TensorData::BF16(_) => unreachable!("rejected by descr_of"),
        TensorData::I8(v) => v.iter().for_each(|x| out.push(*x as u8)),
        TensorData::U8(v) => out.extend_from_slice(v),
        TensorData::Bool(v) => v.iter().for_each(|x| out.push(*x as u8)),
        TensorData::I16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::U16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::U32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::U64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    Ok(out)
}

/// Writes a `.npy` file.
pub fn write_npy(path: impl AsRef<Path>, t: &Tensor) -> Result<()> {
    let path = path.as_ref();
    let bytes = npy_to_bytes(t).map_err(|e| e.context(path.display().to_string()))?;
    std::fs::write(path, bytes).map_err(|e| io_err(path, e))
}

// ---------------------------------------------------------------------------------------------
// .npz
// ---------------------------------------------------------------------------------------------

fn zip_err(path: &Path, e: zip::result::ZipError) -> Error {
    match e {
        zip::result::ZipError::Io(io) => {
            bad(&path.display().to_string(), format!("not a readable .npz (zip) archive: {io}"))
        }
        e => bad(&path.display().to_string(), format!("not a valid .npz (zip) archive: {e}")),
    }
}

/// Reads every array of an `.npz` archive held in memory, in archive order. `what` names it in errors.
pub fn npz_from_bytes(bytes: &[u8], what: &str) -> Result<Vec<(String, Tensor)>> {
    read_npz_from(std::io::Cursor::new(bytes), Path::new(what))
}

fn read_npz_from<R: Read + std::io::Seek>(r: R, path: &Path) -> Result<Vec<(String, Tensor)>> {
    let mut zip = zip::ZipArchive::new(r).map_err(|e| zip_err(path, e))?;
    let mut out: Vec<(String, Tensor)> = Vec::with_capacity(zip.len().min(4096));
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| zip_err(path, e))?;
        if f.is_dir() {
            continue;
        }
        let entry = f.name().to_string();
        let key = entry.strip_suffix(".npy").unwrap_or(&entry).to_string();
        let what = format!("{}[{key}]", path.display());
        if out.iter().any(|(k, _)| *k == key) {
            return Err(bad(&what, "key appears twice in the archive"));
        }
        let size = f.size();
        let t = read_npy_stream(&mut f, Some(size), &what)?;
        out.push((key, t));
    }
    Ok(out)
}

/// Reads every array of an `.npz` file, in archive order, named by entry name without `.npy`.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    read_npz_from(std::io::BufReader::new(f), path)
}

/// Encodes named tensors as an `.npz` archive (`compress`: deflate, like `numpy.savez_compressed`;
/// otherwise stored, like `numpy.savez`).
pub fn npz_to_bytes<S: AsRef<str>>(entries: &[(S, &Tensor)], compress: bool) -> Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if compress { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let zerr = |name: &str, e: &dyn std::fmt::Display| bad(name, format!("cannot write .npz entry: {e}"));
    let mut seen = std::collections::HashSet::new();
    for (name, t) in entries {
        let name = name.as_ref();
        if !seen.insert(name) {
            return Err(bad(name, "name given twice for one .npz"));
        }
        let bytes = npy_to_bytes(t).map_err(|e| e.context(name.to_string()))?;
        let opts =
            SimpleFileOptions::default().compression_method(method).large_file(bytes.len() as u64 >= u32::MAX as u64);
        w.start_file(format!("{name}.npy"), opts).map_err(|e| zerr(name, &e))?;
        w.write_all(&bytes).map_err(|e| zerr(name, &e))?;
    }
    Ok(w.finish().map_err(|e| zerr("archive", &e))?.into_inner())
}

/// Writes named tensors to an `.npz` file (stored, like `numpy.savez`).
pub fn write_npz<S: AsRef<str>>(path: impl AsRef<Path>, entries: &[(S, &Tensor)]) -> Result<()> {
    write_npz_with(path, entries, false)
}

/// Writes named tensors to an `.npz` file, deflate-compressed if `compress`.
pub fn write_npz_with<S: AsRef<str>>(path: impl AsRef<Path>, entries: &[(S, &Tensor)], compress: bool) -> Result<()> {
    let path = path.as_ref();
    let bytes = npz_to_bytes(entries, compress).map_err(|e| e.context(path.display().to_string()))?;
    std::fs::write(path, bytes).map_err(|e| io_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;

    fn all_dtypes() -> Vec<Tensor> {
        let s = vec![2, 3];
        vec![
            Tensor::from_vec(s.clone(), vec![1.5f32, -2.0, f32::NAN, f32::INFINITY, 0.0, -0.0]).unwrap(),
            Tensor::from_vec(s.clone(), vec![1.5f64, -2.0, 1e300, -1e-300, 0.0, 7.0]).unwrap(),
            Tensor::from_vec(s.clone(), [1.5f32, -2.0, 65504.0, 0.5, 0.0, 7.0].map(f16::from_f32).to_vec()).unwrap(),
            Tensor::from_vec(s.clone(), vec![i8::MIN, -1, 0, 1, 2, i8::MAX]).unwrap(),
            Tensor::from_vec(s.clone(), vec![i16::MIN, -1, 0, 1, 2, i16::MAX]).unwrap(),
            Tensor::from_vec(s.clone(), vec![i32::MIN, -1, 0, 1, 2, i32::MAX]).unwrap(),
            Tensor::from_vec(s.clone(), vec![i64::MIN, -1, 0, 1, 2, i64::MAX]).unwrap(),
            Tensor::from_vec(s.clone(), vec![0u8, 1, 2, 3, 254, 255]).unwrap(),
            Tensor::from_vec(s.clone(), vec![0u16, 1, 2, 3, 254, u16::MAX]).unwrap(),
            Tensor::from_vec(s.clone(), vec![0u32, 1, 2, 3, 254, u32::MAX]).unwrap(),
            Tensor::from_vec(s.clone(), vec![0u64, 1, 2, 3, 254, u64::MAX]).unwrap(),
            Tensor::from_vec(s, vec![true, false, true, true, false, false]).unwrap(),
        ]
    }

    fn same(a: &Tensor, b: &Tensor) -> bool {
        // Bitwise equality (NaN == NaN, -0 != +0).
        a.shape() == b.shape() && a.dtype() == b.dtype() && npy_to_bytes(a).unwrap() == npy_to_bytes(b).unwrap()
    }

    #[test]
    fn npy_round_trips_every_dtype_and_rank() {
        for t in all_dtypes() {
            for shape in [vec![6], vec![2, 3], vec![1, 2, 3, 1]] {
                let t = t.clone().reshape(shape).unwrap();
                let bytes = npy_to_bytes(&t).unwrap();
                assert_eq!((bytes[8] as usize + 10) % 64, 0, "data must be 64-byte aligned");
                let back = npy_from_bytes(&bytes, "x").unwrap();
                assert!(same(&t, &back), "{:?} != {:?}", t, back);
            }
        }
        let s = Tensor::scalar(3.25f64);
        assert!(same(&s, &npy_from_bytes(&npy_to_bytes(&s).unwrap(), "s").unwrap()));
        let e = Tensor::zeros(DType::I32, vec![0, 4]).unwrap();
        assert!(same(&e, &npy_from_bytes(&npy_to_bytes(&e).unwrap(), "e").unwrap()));
    }

    #[test]
    fn bf16_is_refused() {
        let t = Tensor::from_vec(vec![1], vec![bf16::ONE]).unwrap();
        assert!(matches!(npy_to_bytes(&t), Err(Error::UnsupportedDType { .. })));
    }

    fn handmade(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[version, 0]);
        if version == 1 {
            v.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            v.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn big_endian_fortran_and_versions() {
        let data: Vec<u8> = [1i32, 2, 3, 4, 5, 6].iter().flat_map(|x| x.to_be_bytes()).collect();
        for v in [1, 2, 3] {
            let b = handmade(v, "{'descr': '>i4', 'fortran_order': False, 'shape': (2, 3), }\n", &data);
            let t = npy_from_bytes(&b, "be").unwrap();
            assert_eq!(t.shape(), &[2, 3]);
            assert_eq!(t.as_slice::<i32>().unwrap(), &[1, 2, 3, 4, 5, 6]);
        }
        // Fortran order: column-major [[1,3,5],[2,4,6]] stored as 1..6.
        let data: Vec<u8> = [1i16, 2, 3, 4, 5, 6].iter().flat_map(|x| x.to_le_bytes()).collect();
        let b = handmade(1, "{\"shape\": (2L, 3L), \"fortran_order\": True, \"descr\": \"<i2\"}", &data);
        let t = npy_from_bytes(&b, "f").unwrap();
        assert_eq!(t.as_slice::<i16>().unwrap(), &[1, 3, 5, 2, 4, 6]);
        // 3-D Fortran: element (i,j,k) at i + 2j + 4k.
        let data: Vec<u8> = (0u8..8).collect();
        let b = handmade(1, "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2, 2), }", &data);
        let t = npy_from_bytes(&b, "f3").unwrap();
        assert_eq!(t.as_slice::<u8>().unwrap(), &[0, 4, 2, 6, 1, 5, 3, 7]);
    }

    #[test]
    fn bad_files_give_typed_errors() {
        let good = npy_to_bytes(&Tensor::from_vec(vec![4], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap()).unwrap();
        for cut in [0, 3, 7, 9, 20, good.len() - 1] {
            let e = npy_from_bytes(&good[..cut], "cut.npy").unwrap_err();
            assert!(matches!(e.root(), Error::InvalidTensor { name, .. } if name == "cut.npy"), "{cut}: {e}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(npy_from_bytes(&extra, "x").is_err());
        let cases = [
            "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,",
            "{'descr': '<f4', 'fortran_order': False, 'shape': ((((((((((((((((((((1,),),),),),),),),),),),),),),),),),),),), }",
            "not a dict",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999999999,), }",
        ];
        for h in cases {
            let e = npy_from_bytes(&handmade(1, h, &[0; 4]), "h").unwrap_err();
            assert!(matches!(e, Error::InvalidTensor { .. }), "{h}: {e}");
        }
        // A shape claiming terabytes is refused before allocating.
        let e = npy_from_bytes(
            &handmade(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", &[]),
            "big",
        )
        .unwrap_err();
        assert!(matches!(e.root(), Error::TooLarge { .. }), "{e}");
        let e = npy_from_bytes(
            &handmade(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000), }", &[0; 16]),
            "big",
        )
        .unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn npz_round_trip_stored_and_deflate() {
        let ts = all_dtypes();
        let names: Vec<String> = ts.iter().map(|t| format!("x:{}/in", t.dtype())).collect();
        let entries: Vec<(&str, &Tensor)> = names.iter().map(|s| s.as_str()).zip(&ts).collect();
        for compress in [false, true] {
            let bytes = npz_to_bytes(&entries, compress).unwrap();
            let back = npz_from_bytes(&bytes, "t.npz").unwrap();
            assert_eq!(back.len(), ts.len());
            for ((n, t), (bn, bt)) in entries.iter().zip(&back) {
                assert_eq!(n, bn);
                assert!(same(t, bt));
            }
        }
        let bytes = npz_to_bytes(&entries, true).unwrap();
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 10] {
            let e = npz_from_bytes(&bytes[..cut], "cut.npz").unwrap_err();
            assert!(matches!(e.root(), Error::InvalidTensor { .. }), "{cut}: {e}");
        }
    }
}
