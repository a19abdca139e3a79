//! Tensor helpers shared by the control-flow operators: slicing one index out of an axis,
//! stacking per-iteration values along a new axis, and reading scalar conditions.

use crate::{bail, checked_numel, dispatch_all, ensure, DType, Dim, Result, Tensor, ValueInfo};

/// `t` with axis `axis` removed, keeping index `i` of it.
pub fn slice_axis(t: &Tensor, axis: usize, i: usize) -> Result<Tensor> {
    let shape = t.shape();
    ensure!(axis < shape.len() && i < shape[axis], "index {i} of axis {axis} is out of range for shape {shape:?}");
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let len = shape[axis];
    let mut out_shape = shape.to_vec();
    out_shape.remove(axis);
    dispatch_all!(t.dtype(), T => {
        let src = t.as_slice::<T>()?;
        let mut v: Vec<T> = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            let s = (o * len + i) * inner;
            v.extend_from_slice(&src[s..s + inner]);
        }
        Tensor::from_vec(out_shape, v)
    })
}

/// Stacks equally shaped tensors along a new axis `axis` (0..=rank).
pub fn stack(items: &[Tensor], axis: usize, what: &str) -> Result<Tensor> {
    let Some(first) = items.first() else { bail!("{what}: nothing to stack") };
    let (shape, dtype) = (first.shape().to_vec(), first.dtype());
    for t in items {
        ensure!(
            t.shape() == shape.as_slice() && t.dtype() == dtype,
            "{what}: iterations produced differently shaped values ({}{:?} and {}{:?})",
            dtype,
            shape,
            t.dtype(),
            t.shape()
        );
    }
    ensure!(axis <= shape.len(), "{what}: axis {axis} is out of range for rank {}", shape.len() + 1);
    let n = items.len();
    let mut out_shape = shape.clone();
    out_shape.insert(axis, n);
    checked_numel(&out_shape, dtype, what)?;
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis..].iter().product();
    dispatch_all!(dtype, T => {
        let srcs: Vec<&[T]> = items.iter().map(|t| t.as_slice::<T>()).collect::<Result<_>>()?;
        let mut v: Vec<T> = Vec::with_capacity(outer * n * inner);
        for o in 0..outer {
            for s in &srcs {
                v.extend_from_slice(&s[o * inner..(o + 1) * inner]);
            }
        }
        Tensor::from_vec(out_shape, v)
    })
}

/// An empty stack (zero iterations): shape `[0]` inserted at `axis` into the body output's
/// declared shape (unknown dims become 0), with its declared dtype.
pub fn empty_stack(info: &ValueInfo, axis: i64, what: &str) -> Result<Tensor> {
    let Some(dtype) = info.dtype else {
        return Err(crate::Error::Unsupported(format!(
            "{what}: zero iterations and the body output '{}' has no declared type",
            info.name
        )));
    };
    let mut shape: Vec<usize> = match &info.shape {
        Some(s) => s.iter().map(|d| if let Dim::Known(n) = d { *n } else { 0 }).collect(),
        None => vec![],
    };
    let r = shape.len() as i64 + 1;
    let a = if axis < 0 { axis + r } else { axis };
    ensure!((0..r).contains(&a), "{what}: axis {axis} is out of range for rank {r}");
    shape.insert(a as usize, 0);
    Tensor::zeros(dtype, shape)
}

/// Truth value of a condition tensor (one element, bool or numeric).
pub fn truth(t: &Tensor, what: &str) -> Result<bool> {
    ensure!(t.len() == 1, "{what} must have exactly one element, got shape {:?}", t.shape());
    Ok(if t.dtype() == DType::Bool { t.as_slice::<bool>()?[0] } else { t.to_f64_vec()[0] != 0.0 })
}

/// Checks a subgraph's declared input/output counts.
pub fn check_arity(g: &crate::Graph, inputs: usize, outputs: Option<usize>, what: &str) -> Result<()> {
    let n_in = g.real_inputs().count();
    ensure!(n_in == inputs, "{what}: body takes {n_in} inputs, expected {inputs}");
    if let Some(o) = outputs {
        ensure!(g.outputs.len() == o, "{what}: body has {} outputs, expected {o}", g.outputs.len());
    }
    Ok(())
}
