//! Small helpers shared by reference operator implementations.

use crate::{bail, strides_of, Dim, Elem, Error, Result, Tensor, ValueInfo};

/// Numpy-style broadcast of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::Shape(format!("shapes {a:?} and {b:?} cannot be broadcast together")));
        };
    }
    Ok(out)
}

/// Broadcast of any number of shapes.
pub fn broadcast_all(shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let mut out: Vec<usize> = vec![];
    for s in shapes {
        out = broadcast_shapes(&out, s)?;
    }
    Ok(out)
}

/// Symbolic broadcast for shape inference (unknown where it cannot tell). A symbolic dim
/// broadcast with an unknown one stays symbolic: symbolic axes (batch, sequence) are the ones
/// that other operands broadcast *to*, as in ONNX Runtime's symbolic shape inference.
pub fn broadcast_dims(a: &[Dim], b: &[Dim]) -> Vec<Dim> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let da = if i + a.len() >= rank { a[i + a.len() - rank].clone() } else { Dim::Known(1) };
            let db = if i + b.len() >= rank { b[i + b.len() - rank].clone() } else { Dim::Known(1) };
            match (&da, &db) {
                (Dim::Known(1), _) => db,
                (_, Dim::Known(1)) => da,
                (x, y) if x == y => da,
                (Dim::Known(_), _) => da,
                (_, Dim::Known(_)) => db,
                (Dim::Sym(_), Dim::Unknown) => da,
                (Dim::Unknown, Dim::Sym(_)) => db,
                _ => Dim::Unknown,
            }
        })
        .collect()
}

/// For each element of a tensor broadcast to `out_shape`, the flat index into the source of `src_shape`.
/// Returns a vector of length `numel(out_shape)`.
pub fn broadcast_index_map(src_shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let n: usize = out_shape.iter().product();
    let rank = out_shape.len();
    let off = rank - src_shape.len();
    let src_strides = strides_of(src_shape);
    // Effective stride per output axis (0 where broadcast).
    let eff: Vec<usize> =
        (0..rank).map(|i| if i < off || src_shape[i - off] == 1 { 0 } else { src_strides[i - off] }).collect();
    let mut idx = vec![0usize; rank];
    let mut out = Vec::with_capacity(n);
    let mut cur = 0usize;
    for _ in 0..n {
        out.push(cur);
        // increment multi-index
        for ax in (0..rank).rev() {
            idx[ax] += 1;
            cur += eff[ax];
            if idx[ax] < out_shape[ax] {
                break;
            }
            cur -= eff[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
    out
}

/// Applies `f` elementwise over two broadcast inputs of the same element type.
pub fn binary_map<T: Elem, O: Elem>(a: &Tensor, b: &Tensor, f: impl Fn(T, T) -> O) -> Result<Tensor> {
    binary_map2::<T, T, O>(a, b, f)
}

/// Applies `f` over two broadcast inputs of possibly different element types.
pub fn binary_map2<A: Elem, B: Elem, O: Elem>(a: &Tensor, b: &Tensor, f: impl Fn(A, B) -> O) -> Result<Tensor> {
    let (av, bv) = (a.as_slice::<A>()?, b.as_slice::<B>()?);
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    crate::checked_numel(&shape, O::DTYPE, "broadcast result")?;
    let out: Vec<O> = if a.shape() == b.shape() {
        let mut out = crate::memory::alloc_for_overwrite::<O>(av.len());
        out.iter_mut().zip(av.iter().zip(bv)).for_each(|(o, (&x, &y))| *o = f(x, y));
        out
    } else if b.len() == 1 && shape.as_slice() == a.shape() {
        let y = bv[0];
        let mut out = crate::memory::alloc_for_overwrite::<O>(av.len());
        out.iter_mut().zip(av).for_each(|(o, &x)| *o = f(x, y));
        out
    } else {
        let ia = broadcast_index_map(a.shape(), &shape);
        let ib = broadcast_index_map(b.shape(), &shape);
        ia.iter().zip(&ib).map(|(&i, &j)| f(av[i], bv[j])).collect()
    };
    Tensor::from_vec(shape, out)
}

/// Applies `f` to every element.
pub fn unary_map<T: Elem, O: Elem>(a: &Tensor, f: impl Fn(T) -> O) -> Result<Tensor> {
    let av = a.as_slice::<T>()?;
    let mut out = crate::memory::alloc_for_overwrite::<O>(av.len());
    out.iter_mut().zip(av).for_each(|(o, &x)| *o = f(x));
    Tensor::from_vec(a.shape().to_vec(), out)
}

/// Normalizes a possibly negative axis against `rank`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) && !(r == 0 && a == 0) {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    Ok(a as usize)
}

/// Reads a 1-D (or scalar) integer tensor as i64 values (shape/axes/indices inputs).
pub fn ints_of(t: &Tensor) -> Result<Vec<i64>> {
    if !(t.dtype().is_int() || t.dtype() == crate::DType::Bool) {
        bail!("expected an integer tensor, got {}", t.dtype());
    }
    Ok(t.to_i64_vec())
}

/// Output type info with the dtype and shape of input 0 (for shape-preserving ops).
pub fn same_as_input0(inputs: &[crate::ops::InferInput]) -> Vec<ValueInfo> {
    match inputs.first().and_then(|i| i.info) {
        Some(i) => vec![ValueInfo::new("", i.dtype, i.shape.clone())],
        None => vec![],
    }
}

/// Applies `f` to every element of an owned tensor, in its own buffer (in-place kernels).
pub fn unary_inplace<T: Elem>(mut t: Tensor, f: impl Fn(T) -> T) -> Result<Tensor> {
    for v in t.as_mut_slice::<T>()? {
        *v = f(*v);
    }
    Ok(t)
}

/// `f(a, b)` with numpy broadcasting, written into `dst` (the operand `a` when `dst_is_a`, else
/// `b`), which must already have as many elements as `out_shape`; the result takes `out_shape`.
pub fn binary_inplace<T: Elem>(
    mut dst: Tensor,
    other: &Tensor,
    dst_is_a: bool,
    out_shape: &[usize],
    f: impl Fn(T, T) -> T,
) -> Result<Tensor> {
    let n: usize = out_shape.iter().product();
    if dst.len() != n {
        bail!("in-place broadcast: destination has {} elements, result {n}", dst.len());
    }
    let ov = other.as_slice::<T>()?;
    let op = |d: &mut T, o: T| *d = if dst_is_a { f(*d, o) } else { f(o, *d) };
    let dv = dst.as_mut_slice::<T>()?;
    if ov.len() == n {
        dv.iter_mut().zip(ov).for_each(|(d, &o)| op(d, o));
    } else if ov.len() == 1 {
        dv.iter_mut().for_each(|d| op(d, ov[0]));
    } else if n > 0 {
        // Strides of `other` in output coordinates (0 along broadcast axes); rows of the last axis.
        let r = out_shape.len();
        let os = other.shape();
        let src = strides_of(os);
        let st: Vec<usize> = (0..r)
            .map(|i| match (i + os.len()).checked_sub(r) {
                Some(j) if os[j] != 1 => src[j],
                _ => 0,
            })
            .collect();
        let (inner, inner_st) = (out_shape[r - 1], st[r - 1]);
        let mut idx = vec![0usize; r];
        for row in dv.chunks_mut(inner.max(1)) {
            let base: usize = idx.iter().zip(&st).map(|(i, s)| i * s).sum();
            for (j, d) in row.iter_mut().enumerate() {
                op(d, ov[base + j * inner_st]);
            }
            for a in (0..r.saturating_sub(1)).rev() {
                idx[a] += 1;
                if idx[a] < out_shape[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
    }
    dst.reshape(out_shape.to_vec())
}

/// In-place body of the reshape family: the new shape is computed from the borrowed inputs, then
/// input 0's buffer is moved into the output when owned (copied when borrowed).
pub fn reshape_inplace(
    inputs: &mut [Option<crate::ops::InArg<'_>>],
    op: &str,
    new_shape: impl FnOnce(&[Option<&Tensor>]) -> Result<Vec<usize>>,
) -> Result<Vec<Tensor>> {
    use crate::ops::InArg;
    let shape = new_shape(&InArg::refs(inputs))?;
    let x = match InArg::take_owned(inputs, 0, |_| true) {
        Some(t) => t,
        None => crate::ops::input(&InArg::refs(inputs), 0, op)?.clone(),
    };
    Ok(vec![x.reshape(shape)?])
}
