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
        av.iter().zip(bv).map(|(&x, &y)| f(x, y)).collect()
    } else if b.len() == 1 && shape.as_slice() == a.shape() {
        let y = bv[0];
        av.iter().map(|&x| f(x, y)).collect()
    } else {
        let ia = broadcast_index_map(a.shape(), &shape);
        let ib = broadcast_index_map(b.shape(), &shape);
        ia.iter().zip(&ib).map(|(&i, &j)| f(av[i], bv[j])).collect()
    };
    Tensor::from_vec(shape, out)
}

/// Applies `f` to every element.
pub fn unary_map<T: Elem, O: Elem>(a: &Tensor, f: impl Fn(T) -> O) -> Result<Tensor> {
    let out: Vec<O> = a.as_slice::<T>()?.iter().map(|&x| f(x)).collect();
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
