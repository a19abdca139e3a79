//! Shared reduction machinery: axis resolution, output shapes and the index spaces
//! (kept positions × reduced offsets) that every Reduce* operator and ArgMax/ArgMin iterate.

use crate::ops::util::norm_axis;
use crate::{bail, checked_numel, strides_of, DType, Dim, Elem, Result};

/// Resolves a reduction's axes against `rank` into a per-axis "is reduced" mask.
///
/// `None` or an empty list means "all axes", unless `noop_with_empty` is set, in which case
/// nothing is reduced (every group is a single element). Duplicate axes are an error.
pub fn resolve_axes(axes: Option<&[i64]>, rank: usize, noop_with_empty: bool) -> Result<Vec<bool>> {
    match axes {
        None | Some([]) => Ok(vec![!noop_with_empty; rank]),
        Some(list) => {
            let mut mask = vec![false; rank];
            for &a in list {
                if rank == 0 {
                    // A scalar may be "reduced" over axis 0 / -1 (onnx treats it as a no-op reduction).
                    if a == 0 || a == -1 {
                        continue;
                    }
                    bail!("axis {a} is out of range for a rank-0 input");
                }
                let ax = norm_axis(a, rank)?;
                if mask[ax] {
                    bail!("axis {a} appears more than once in axes {list:?}");
                }
                mask[ax] = true;
            }
            Ok(mask)
        }
    }
}

/// Output shape of a reduction: reduced axes become 1 (`keepdims`) or disappear.
pub fn reduced_shape(shape: &[usize], reduced: &[bool], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .zip(reduced)
        .filter_map(|(&d, &r)| match (r, keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// Symbolic version of [`reduced_shape`] for shape inference.
pub fn reduced_dims(dims: &[Dim], reduced: &[bool], keepdims: bool) -> Vec<Dim> {
    dims.iter()
        .zip(reduced)
        .filter_map(|(d, &r)| match (r, keepdims) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(Dim::Known(1)),
            (true, false) => None,
        })
        .collect()
}

/// Flat offsets of every multi-index over the axes selected by `mask` (others held at 0),
/// in row-major order of the selected axes.
fn offsets_over(shape: &[usize], strides: &[usize], mask: &[bool]) -> Vec<usize> {
    let sel: Vec<(usize, usize)> =
        shape.iter().zip(strides).zip(mask).filter(|(_, &m)| m).map(|((&d, &s), _)| (d, s)).collect();
    let n: usize = sel.iter().map(|&(d, _)| d).product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let mut idx = vec![0usize; sel.len()];
    let mut cur = 0usize;
    for _ in 0..n {
        out.push(cur);
        for k in (0..sel.len()).rev() {
            let (d, s) = sel[k];
            idx[k] += 1;
            cur += s;
            if idx[k] < d {
                break;
            }
            cur -= s * d;
            idx[k] = 0;
        }
    }
    out
}

/// The index spaces of a reduction: output element `i` reduces the input elements at
/// `bases[i] + offsets[j]` for every `j`. `bases` is in row-major order of the kept axes,
/// which is the output's order.
#[derive(Debug, Clone)]
pub struct ReduceIndex {
    pub bases: Vec<usize>,
    pub offsets: Vec<usize>,
}

impl ReduceIndex {
    /// Builds the index spaces for `shape` with axes `reduced`; `out_dtype` is used to check
    /// that the output (whose size may exceed the input's when a reduced axis is empty) fits.
    pub fn new(shape: &[usize], reduced: &[bool], out_dtype: DType) -> Result<ReduceIndex> {
        let kept: Vec<bool> = reduced.iter().map(|r| !r).collect();
        let kept_shape = reduced_shape(shape, reduced, false);
        checked_numel(&kept_shape, out_dtype, "reduction output")?;
        let strides = strides_of(shape);
        Ok(ReduceIndex { bases: offsets_over(shape, &strides, &kept), offsets: offsets_over(shape, &strides, reduced) })
    }

    /// Number of elements in each reduced group.
    pub fn group_len(&self) -> usize {
        self.offsets.len()
    }

    /// Iterator over the input elements of the group starting at `base`.
    pub fn group<'a, T: Elem>(&'a self, x: &'a [T], base: usize) -> impl Iterator<Item = T> + Clone + 'a {
        self.offsets.iter().map(move |&o| x[base + o])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_spaces_middle_axis() {
        // shape [2,3,2], reduce axis 1
        let ri = ReduceIndex::new(&[2, 3, 2], &[false, true, false], DType::F32).unwrap();
        assert_eq!(ri.bases, vec![0, 1, 6, 7]);
        assert_eq!(ri.offsets, vec![0, 2, 4]);
    }

    #[test]
    fn index_spaces_all_and_none() {
        let all = ReduceIndex::new(&[2, 2], &[true, true], DType::F32).unwrap();
        assert_eq!(all.bases, vec![0]);
        assert_eq!(all.offsets, vec![0, 1, 2, 3]);
        let none = ReduceIndex::new(&[2, 2], &[false, false], DType::F32).unwrap();
        assert_eq!(none.bases, vec![0, 1, 2, 3]);
        assert_eq!(none.offsets, vec![0]);
        let empty = ReduceIndex::new(&[3, 0], &[false, true], DType::F32).unwrap();
        assert_eq!(empty.bases, vec![0, 0, 0]);
        assert!(empty.offsets.is_empty());
    }

    #[test]
    fn axes_resolution() {
        assert_eq!(resolve_axes(None, 3, false).unwrap(), vec![true; 3]);
        assert_eq!(resolve_axes(Some(&[]), 3, true).unwrap(), vec![false; 3]);
        assert_eq!(resolve_axes(Some(&[-1, 0]), 3, false).unwrap(), vec![true, false, true]);
        assert!(resolve_axes(Some(&[1, -2]), 3, false).is_err());
        assert!(resolve_axes(Some(&[3]), 3, false).is_err());
        assert_eq!(reduced_shape(&[2, 3, 4], &[true, false, true], false), vec![3]);
        assert_eq!(reduced_shape(&[2, 3, 4], &[true, false, true], true), vec![1, 3, 1]);
    }
}
