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
    let st = strides_of(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let idx = strided_index(&out_shape, &strides);
    take(t, &idx, out_shape, None)
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
