//! Helpers shared by the tensor (data movement) operators: index maps, gathers, static info.

use crate::ops::InferInput;
use crate::{bail, dispatch_all, strides_of, DType, Dim, Elem, Result, Tensor, ValueInfo};

/// Marks an output element that takes a fill value instead of a source element.
pub const FILL: usize = usize::MAX;

/// Static shape made of known dims.
pub fn known_dims(s: &[usize]) -> Vec<Dim> {
    s.iter().map(|&d| Dim::Known(d)).collect()
}

/// The type info of input `i`, if known.
pub fn info<'a>(inputs: &[InferInput<'a>], i: usize) -> Option<&'a ValueInfo> {
    inputs.get(i).and_then(|x| x.info)
}

/// The dtype of input `i`, if known.
pub fn dtype_of(inputs: &[InferInput], i: usize) -> Option<DType> {
    info(inputs, i).and_then(|v| v.dtype)
}

/// The (symbolic) shape of input `i`, if its rank is known.
pub fn shape_of(inputs: &[InferInput], i: usize) -> Option<Vec<Dim>> {
    info(inputs, i).and_then(|v| v.shape.clone())
}

/// The value of input `i` read as integers, if it is a known constant.
pub fn const_ints(inputs: &[InferInput], i: usize) -> Option<Vec<i64>> {
    let v = inputs.get(i)?.value?;
    if v.dtype().is_int() {
        Some(v.to_i64_vec())
    } else {
        None
    }
}

/// One output info.
pub fn out(dtype: Option<DType>, shape: Option<Vec<Dim>>) -> Vec<ValueInfo> {
    vec![ValueInfo::new("", dtype, shape)]
}

/// Product of dims, as usize (the caller has checked the tensor exists, so no overflow).
pub fn prod(s: &[usize]) -> usize {
    s.iter().product()
}

/// Normalizes an index into an axis of size `dim` (negative counts from the end); errors when out of range.
pub fn norm_index(i: i64, dim: usize, what: &str) -> Result<usize> {
    let d = dim as i64;
    let j = if i < 0 { i.wrapping_add(d) } else { i };
    if j < 0 || j >= d {
        bail!("{what} index {i} is out of range for an axis of size {dim}");
    }
    Ok(j as usize)
}

/// Normalizes an axis in `[-rank, rank)`; unlike `util::norm_axis`, a rank-0 tensor has no axis.
pub fn axis_of(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    Ok(a as usize)
}

/// Normalizes a list of axes against `rank`, refusing duplicates.
pub fn norm_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = axis_of(a, rank)?;
        if out.contains(&n) {
            bail!("axis {a} is repeated in {axes:?}");
        }
        out.push(n);
    }
    Ok(out)
}

/// Reads a shape-like integer list from a tensor, refusing negatives.
pub fn dims_from(vals: &[i64], what: &str) -> Result<Vec<usize>> {
    vals.iter()
        .map(|&v| {
            if v < 0 {
                bail!("{what}: negative dimension {v}");
            }
            Ok(v as usize)
        })
        .collect()
}

/// Typed gather: `out[k] = src[idx[k]]`, or `fill` where `idx[k] == FILL`.
pub fn take_typed<T: Elem>(src: &[T], idx: &[usize], fill: T) -> Vec<T> {
    idx.iter().map(|&i| if i == FILL { fill } else { src[i] }).collect()
}

/// Gathers elements of `t` by flat index (every index must be in range or FILL) into a new tensor.
/// `fill` (a tensor of `t`'s dtype, first element used) replaces FILL entries; zero when absent.
pub fn take(t: &Tensor, idx: &[usize], shape: Vec<usize>, fill: Option<&Tensor>) -> Result<Tensor> {
    let n = t.len();
    if let Some(&bad) = idx.iter().find(|&&i| i != FILL && i >= n) {
        bail!("internal index {bad} out of range for {n} elements");
    }
    dispatch_all!(t.dtype(), T => {
        let src = t.as_slice::<T>()?;
        let f = match fill {
            Some(f) => f.cast(T::DTYPE)?.as_slice::<T>()?.first().copied().unwrap_or_else(T::zero),
            None => T::zero(),
        };
        Tensor::from_vec(shape, take_typed(src, idx, f))
    })
}

/// Flat source indices for an output of `out_shape` where output axis `k` maps source index
/// `maps[k][o]` (None = fill). `src_shape` has the same rank as `out_shape`.
pub fn axis_map_index(src_shape: &[usize], out_shape: &[usize], maps: &[Vec<Option<usize>>]) -> Vec<usize> {
    let strides = strides_of(src_shape);
    let contrib: Vec<Vec<Option<usize>>> =
        maps.iter().zip(&strides).map(|(m, &s)| m.iter().map(|o| o.map(|i| i * s)).collect()).collect();
    let n = prod(out_shape);
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    fn rec(axis: usize, base: Option<usize>, contrib: &[Vec<Option<usize>>], out: &mut Vec<usize>) {
        if axis == contrib.len() {
            out.push(base.unwrap_or(FILL));
            return;
        }
        for c in &contrib[axis] {
            let b = match (base, c) {
                (Some(b), Some(c)) => Some(b + c),
                _ => None,
            };
            if b.is_none() && axis + 1 < contrib.len() {
                // Whole sub-block is fill.
                let sub: usize = contrib[axis + 1..].iter().map(|v| v.len()).product();
                out.extend(std::iter::repeat_n(FILL, sub));
            } else {
                rec(axis + 1, b, contrib, out);
            }
        }
    }
    rec(0, Some(0), &contrib, &mut out);
    out
}

/// Flat source indices for an output of `out_shape` whose axis `k` walks the source with
/// element stride `strides[k]` (a generic strided view: transpose, broadcast).
pub fn strided_index(out_shape: &[usize], strides: &[usize]) -> Vec<usize> {
    let n = prod(out_shape);
    let rank = out_shape.len();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let mut idx = vec![0usize; rank];
    let mut cur = 0usize;
    for _ in 0..n {
        out.push(cur);
        for ax in (0..rank).rev() {
            idx[ax] += 1;
            cur += strides[ax];
            if idx[ax] < out_shape[ax] {
                break;
            }
            cur -= strides[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
    out
}

/// Transposes `t` (viewed with shape `shape`, same element count) by `perm`.
pub fn transpose_as(t: &Tensor, shape: &[usize], perm: &[usize]) -> Result<Tensor> {
    crate::ensure!(prod(shape) == t.len(), "transpose view {shape:?} does not match {} elements", t.len());
    let st = strides_of(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    dispatch_all!(t.dtype(), T => Tensor::from_vec(out_shape.clone(), strided_copy(t.as_slice::<T>()?, &out_shape, &strides)))
}

/// An output axis of a strided copy: its length and the source element stride.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CopyAxis {
    len: usize,
    stride: usize,
}

/// Drops length-1 axes and merges neighbours that are contiguous in the source.
fn collapse_copy(out_shape: &[usize], strides: &[usize]) -> Vec<CopyAxis> {
    let mut axes: Vec<CopyAxis> = Vec::with_capacity(out_shape.len());
    for (&len, &stride) in out_shape.iter().zip(strides).rev() {
        if len == 1 {
            continue;
        }
        if let Some(inner) = axes.last_mut() {
            if stride == inner.stride * inner.len {
                inner.len *= len;
                continue;
            }
        }
        axes.push(CopyAxis { len, stride });
    }
    axes.reverse();
    axes
}

/// Source offset of row `r` of the axes `outer` (row-major unravel).
fn unravel_offset(mut r: usize, outer: &[CopyAxis]) -> usize {
    let mut off = 0;
    for ax in outer.iter().rev() {
        off += (r % ax.len) * ax.stride;
        r /= ax.len;
    }
    off
}

/// Copies the strided view (`out_shape`, source `strides`) of `src` into a new row-major
/// buffer: contiguous runs as slice copies, otherwise 2-D tiles between the output's last
/// axis and the axis the source walks contiguously; large outputs split over threads.
pub fn strided_copy<T: Elem>(src: &[T], out_shape: &[usize], strides: &[usize]) -> Vec<T> {
    let n = prod(out_shape);
    let mut out = crate::memory::alloc_for_overwrite::<T>(n);
    if n == 0 {
        return out;
    }
    let axes = collapse_copy(out_shape, strides);
    let Some((last, outer)) = axes.split_last() else {
        out[0] = src[0];
        return out;
    };
    if last.stride == 1 {
        let len = last.len;
        crate::simd::par::for_rows(&mut out, len, |r, row| {
            let o = unravel_offset(r, outer);
            row.copy_from_slice(&src[o..o + len]);
        });
        return out;
    }
    // The output axis the source walks with stride 1 (smallest stride otherwise).
    let k = (0..axes.len()).min_by_key(|&i| axes[i].stride).unwrap_or(0);
    if k + 1 == axes.len() {
        // No better axis to tile with: gather each row.
        crate::simd::par::for_rows(&mut out, last.len, |r, row| {
            let o = unravel_offset(r, outer);
            for (j, v) in row.iter_mut().enumerate() {
                *v = src[o + j * last.stride];
            }
        });
        return out;
    }
    let block: usize = axes[k..].iter().map(|a| a.len).product();
    let (before, rest) = axes.split_at(k);
    let (kax, mid_last) = rest.split_first().unwrap_or((last, &[]));
    let mid = &mid_last[..mid_last.len().saturating_sub(1)];
    let mid_n: usize = mid.iter().map(|a| a.len).product();
    let os_k = block / kax.len;
    const TILE: usize = 16;
    crate::simd::par::for_rows(&mut out, block, |r, blk| {
        let base = unravel_offset(r, before);
        for m in 0..mid_n {
            let sb = base + unravel_offset(m, mid);
            let ob = m * last.len;
            for i0 in (0..kax.len).step_by(TILE) {
                let i1 = (i0 + TILE).min(kax.len);
                for j0 in (0..last.len).step_by(TILE) {
                    let j1 = (j0 + TILE).min(last.len);
                    for i in i0..i1 {
                        let orow = &mut blk[ob + i * os_k + j0..ob + i * os_k + j1];
                        let s0 = sb + i * kax.stride + j0 * last.stride;
                        for (j, o) in orow.iter_mut().enumerate() {
                            *o = src[s0 + j * last.stride];
                        }
                    }
                }
            }
        }
    });
    out
}

/// Flat index of a multi-index under `strides`.
pub fn offset(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// Advances a row-major multi-index over `shape`; returns false after the last one.
pub fn next_index(idx: &mut [usize], shape: &[usize]) -> bool {
    for ax in (0..shape.len()).rev() {
        idx[ax] += 1;
        if idx[ax] < shape[ax] {
            return true;
        }
        idx[ax] = 0;
    }
    false
}

/// True for a NaN float (the only value not equal to itself).
#[allow(clippy::eq_op)]
pub fn is_nan<T: Elem>(x: T) -> bool {
    x != x
}

/// Reduction used by the scatter operators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

impl Reduction {
    pub fn parse(s: &str) -> Result<Reduction> {
        Ok(match s {
            "none" => Reduction::None,
            "add" => Reduction::Add,
            "mul" => Reduction::Mul,
            "max" => Reduction::Max,
            "min" => Reduction::Min,
            other => {
                return Err(crate::Error::Attr {
                    attr: "reduction".into(),
                    msg: format!("unknown reduction '{other}'"),
                })
            }
        })
    }

    /// Combines the existing value `a` with the update `b`.
    pub fn apply<T: Elem>(self, a: T, b: T) -> T {
        match self {
            Reduction::None => b,
            Reduction::Max => {
                if b > a || is_nan(b) {
                    b
                } else {
                    a
                }
            }
            Reduction::Min => {
                if b < a || is_nan(b) {
                    b
                } else {
                    a
                }
            }
            Reduction::Add | Reduction::Mul => {
                let add = self == Reduction::Add;
                if T::DTYPE.is_float() {
                    let (x, y) = (a.to_f64(), b.to_f64());
                    T::from_f64(if add { x + y } else { x * y })
                } else if T::DTYPE == DType::Bool {
                    let (x, y) = (a.to_i64() != 0, b.to_i64() != 0);
                    T::from_i64(if add { x || y } else { x && y } as i64)
                } else {
                    let (x, y) = (a.to_i64(), b.to_i64());
                    T::from_i64(if add { x.wrapping_add(y) } else { x.wrapping_mul(y) })
                }
            }
        }
    }
}

/// `blocksize` (positive) and `mode` (DCR → false, CRD → true) of DepthToSpace/SpaceToDepth.
pub fn block_attrs(cx: &crate::ops::BuildCtx) -> Result<(usize, bool)> {
    let b = cx.req_int("blocksize")?;
    if b <= 0 {
        return Err(crate::Error::Attr { attr: "blocksize".into(), msg: format!("must be positive, got {b}") });
    }
    let crd = match cx.string("mode", "DCR")?.as_str() {
        "DCR" => false,
        "CRD" => true,
        m => return Err(crate::Error::Attr { attr: "mode".into(), msg: format!("unknown mode '{m}'") }),
    };
    Ok((b as usize, crd))
}

/// A do-nothing execution context for unit tests of this family.
#[cfg(test)]
pub struct NoCtx;

#[cfg(test)]
impl crate::ExecCtx for NoCtx {
    fn run_subgraph_values(&self, _: &std::sync::Arc<crate::Graph>, _: Vec<crate::Value>) -> Result<Vec<crate::Value>> {
        Err(crate::Error::Unsupported("no subgraphs in unit tests".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocked strided copy against the flat index map, for every permutation of a few
    /// shapes (with length-1 axes, so collapsing is exercised).
    #[test]
    fn strided_copy_matches_index_map() {
        fn perms(n: usize) -> Vec<Vec<usize>> {
            if n == 0 {
                return vec![vec![]];
            }
            let mut out = vec![];
            for p in perms(n - 1) {
                for i in 0..n {
                    let mut q = p.clone();
                    q.insert(i, n - 1);
                    out.push(q);
                }
            }
            out
        }
        for shape in [vec![2, 3, 4, 5], vec![1, 17, 1, 33], vec![40, 1, 21], vec![3, 70, 5]] {
            let n = prod(&shape);
            let src: Vec<i32> = (0..n as i32).collect();
            let st = strides_of(&shape);
            for perm in perms(shape.len()) {
                let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
                let strides: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
                let want: Vec<i32> = strided_index(&out_shape, &strides).iter().map(|&i| src[i]).collect();
                assert_eq!(strided_copy(&src, &out_shape, &strides), want, "{shape:?} {perm:?}");
            }
        }
    }

    #[test]
    fn axis_maps_with_fill() {
        // src 2x2 = [[0,1],[2,3]], pad one column of fill on the left.
        let maps = vec![vec![Some(0), Some(1)], vec![None, Some(0), Some(1)]];
        let idx = axis_map_index(&[2, 2], &[2, 3], &maps);
        assert_eq!(idx, vec![FILL, 0, 1, FILL, 2, 3]);
        let maps = vec![vec![None, Some(1)], vec![Some(1), Some(0)]];
        assert_eq!(axis_map_index(&[2, 2], &[2, 2], &maps), vec![FILL, FILL, 3, 2]);
    }

    #[test]
    fn transpose_2x3() {
        let t = Tensor::from_vec(vec![2, 3], vec![0i32, 1, 2, 3, 4, 5]).unwrap();
        let o = transpose_as(&t, &[2, 3], &[1, 0]).unwrap();
        assert_eq!(o.shape(), &[3, 2]);
        assert_eq!(o.as_slice::<i32>().unwrap(), &[0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn reductions() {
        assert_eq!(Reduction::Add.apply(250u8, 10u8), 4);
        assert_eq!(Reduction::Mul.apply(3i64, -4i64), -12);
        assert_eq!(Reduction::Max.apply(1.5f32, -2.0), 1.5);
        assert_eq!(Reduction::Min.apply(1.5f32, -2.0), -2.0);
    }
}
