//! Training data: rows of tensors (slice, gather, concatenate along the batch axis) and loading from
//! `.npy`/`.npz` (through [`zenrt::npy`]) or CSV.

use std::path::{Path, PathBuf};
use zenrt_core::{dispatch_all, Error, Result, Tensor};

/// Rows `start..end` of `t` (axis 0).
pub fn slice_rows(t: &Tensor, start: usize, end: usize) -> Result<Tensor> {
    let n = t.shape().first().copied().unwrap_or(0);
    if start > end || end > n {
        return Err(Error::Invalid(format!("rows {start}..{end} of a tensor with {n} rows")));
    }
    let row: usize = t.shape()[1..].iter().product();
    let mut shape = t.shape().to_vec();
    shape[0] = end - start;
    dispatch_all!(t.dtype(), T => {
        let s = t.as_slice::<T>()?;
        Tensor::from_vec(shape, s[start * row..end * row].to_vec())
    })
}

/// The rows of `t` at `idx`, in that order.
pub fn take_rows(t: &Tensor, idx: &[usize]) -> Result<Tensor> {
    let n = t.shape().first().copied().unwrap_or(0);
    if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
        return Err(Error::Invalid(format!("row {bad} of a tensor with {n} rows")));
    }
    let row: usize = t.shape()[1..].iter().product();
    let mut shape = t.shape().to_vec();
    shape[0] = idx.len();
    dispatch_all!(t.dtype(), T => {
        let s = t.as_slice::<T>()?;
        let mut out = Vec::with_capacity(idx.len() * row);
        for &i in idx {
            out.extend_from_slice(&s[i * row..(i + 1) * row]);
        }
        Tensor::from_vec(shape, out)
    })
}

/// Concatenates tensors of equal row shape along axis 0.
pub fn concat_rows(parts: &[Tensor]) -> Result<Tensor> {
    let first = parts.first().ok_or_else(|| Error::Invalid("nothing to concatenate".into()))?;
    let row_shape = &first.shape()[1..];
    let mut n = 0;
    for p in parts {
        if p.dtype() != first.dtype() || p.rank() == 0 || &p.shape()[1..] != row_shape {
            return Err(Error::Shape(format!(
                "cannot stack {}{:?} under {}{:?}",
                p.dtype(),
                p.shape(),
                first.dtype(),
                first.shape()
            )));
        }
        n += p.shape()[0];
    }
    let mut shape = first.shape().to_vec();
    shape[0] = n;
    dispatch_all!(first.dtype(), T => {
        let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
        for p in parts {
            out.extend_from_slice(p.as_slice::<T>()?);
        }
        Tensor::from_vec(shape, out)
    })
}

/// Expands a leading `~/` to the home directory.
pub fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Reads one array from a `.npy` file, or the array `key` of a `.npz` file.
pub fn read_array(path: &Path, key: Option<&str>) -> Result<Tensor> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let ctx = |e: Error| e.context(format!("data file {}", path.display()));
    match ext.as_str() {
        "npy" => zenrt::npy::read_npy(path).map_err(ctx),
        "npz" => {
            let key = key.ok_or_else(|| ctx(Error::Invalid("an .npz file needs the name of the array".into())))?;
            let arrays = zenrt::npy::read_npz(path).map_err(ctx)?;
            let names: Vec<String> = arrays.iter().map(|a| a.0.clone()).collect();
            arrays
                .into_iter()
                .find(|(n, _)| n == key || n.strip_suffix(".npy") == Some(key))
                .map(|a| a.1)
                .ok_or_else(|| ctx(Error::Invalid(format!("no array '{key}' (the file has: {})", names.join(", ")))))
        }
        _ => Err(ctx(Error::Invalid(format!("unknown data format '.{ext}' (expected .npy, .npz or .csv)")))),
    }
}

/// A CSV table of numbers: features `[n, columns - 1]` as float32 and the label column as float32
/// `[n]`. `label_column` counts from the end when negative (-1 = last). A first line that is not all
/// numbers is taken as a header.
pub fn read_csv(path: &Path, label_column: i64) -> Result<(Tensor, Tensor)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let err = |line: usize, m: String| Error::Invalid(format!("{}:{line}: {m}", path.display()));
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let mut width = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(|c| c.trim()).collect();
        let nums: std::result::Result<Vec<f32>, _> = cells.iter().map(|c| c.parse::<f32>()).collect();
        let nums = match nums {
            Ok(v) => v,
            Err(_) if i == 0 => continue, // header
            Err(_) => return Err(err(i + 1, format!("not a number in '{line}'"))),
        };
        let w = *width.get_or_insert(nums.len());
        if nums.len() != w {
            return Err(err(i + 1, format!("{} columns where the first row has {w}", nums.len())));
        }
        let col = if label_column < 0 { w as i64 + label_column } else { label_column };
        if col < 0 || col >= w as i64 || w < 2 {
            return Err(err(i + 1, format!("label column {label_column} does not exist in {w} columns")));
        }
        for (j, v) in nums.into_iter().enumerate() {
            if j as i64 == col {
                ys.push(v);
            } else {
                xs.push(v);
            }
        }
    }
    let n = ys.len();
    if n == 0 {
        return Err(Error::Invalid(format!("{}: no data rows", path.display())));
    }
    let f = xs.len() / n;
    Ok((Tensor::from_vec(vec![n, f], xs)?, Tensor::from_vec(vec![n], ys)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_slice_take_concat() {
        let t = Tensor::from_vec(vec![3, 2], vec![0i64, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(slice_rows(&t, 1, 3).unwrap().as_slice::<i64>().unwrap(), &[2, 3, 4, 5]);
        assert_eq!(take_rows(&t, &[2, 0]).unwrap().as_slice::<i64>().unwrap(), &[4, 5, 0, 1]);
        let c = concat_rows(&[slice_rows(&t, 0, 1).unwrap(), slice_rows(&t, 1, 3).unwrap()]).unwrap();
        assert_eq!(c, t);
        assert!(take_rows(&t, &[3]).is_err());
        assert!(slice_rows(&t, 2, 4).is_err());
    }

    #[test]
    fn csv_with_header_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, "a,b,label\n1,2,0\n3,4,1\n").unwrap();
        let (x, y) = read_csv(&p, -1).unwrap();
        assert_eq!(x.shape(), &[2, 2]);
        assert_eq!(x.as_slice::<f32>().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[0.0, 1.0]);
        let (x0, y0) = read_csv(&p, 0).unwrap();
        assert_eq!(
            (x0.as_slice::<f32>().unwrap(), y0.as_slice::<f32>().unwrap()),
            (&[2.0, 0.0, 4.0, 1.0][..], &[1.0, 3.0][..])
        );
        std::fs::write(&p, "1,2,0\n3,x,1\n").unwrap();
        assert!(read_csv(&p, -1).unwrap_err().to_string().contains(":2:"));
        std::fs::write(&p, "1,2,0\n3,1\n").unwrap();
        assert!(read_csv(&p, -1).unwrap_err().to_string().contains("columns"));
        assert!(read_array(&dir.path().join("missing.npy"), None).is_err());
    }
}
