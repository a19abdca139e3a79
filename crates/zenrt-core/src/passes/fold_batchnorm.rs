//! Folds a per-output-channel affine map applied after a Conv or Gemm into its weights and bias:
//! - `BatchNormalization` (inference mode, constant scale/bias/mean/var) after Conv or Gemm;
//! - `Mul`/`Div` by a constant after Conv or Gemm (scales the weights and the bias);
//! - `Add`/`Sub` of a constant after Conv or Gemm (shifts the bias).
//!
//! The constant must broadcast along the output-channel axis only (axis 1 of a Conv output, the
//! last axis of a Gemm output): shape `[M,1,1]`, `[1,M,1,1]`, `[M]` for Gemm, or one element.
//! The weights must be constants and the Conv/Gemm output must have no other reader. New
//! weights are computed in f64 and rounded to the weights' dtype.

use super::rewrite::{attr_f32, attr_i64, fusable_dtype, is_op, make_node, rewrite_all, Index, Rewrite};
use super::Pass;
use crate::{Attr, Graph, Node, Result, Tensor};

pub struct FoldBatchNorm;

/// `y ↦ y * scale[c] + shift[c]` per output channel `c`.
struct Affine {
    scale: Vec<f64>,
    shift: Vec<f64>,
}

/// Per-channel values of constant `c` broadcast against an output of rank `rank` whose channel
/// axis is `axis` with `m` channels; `None` when `c` would broadcast along another axis.
fn per_channel(c: &Tensor, rank: usize, axis: usize, m: usize) -> Option<Vec<f64>> {
    if !c.dtype().is_float() || c.rank() > rank {
        return None;
    }
    let off = rank - c.rank();
    for (k, &d) in c.shape().iter().enumerate() {
        if d != 1 && !(k + off == axis && d == m) {
            return None;
        }
    }
    let v = c.to_f64_vec();
    Some(if v.len() == m { v } else { vec![*v.first()?; m] })
}

/// The affine map node `n` applies to `y` (its input named `y`), if it is one.
fn affine_of(g: &Graph, idx: &Index, n: &Node, y: &str, rank: usize, axis: usize, m: usize) -> Option<Affine> {
    let other = |n: &Node| -> Option<(&Tensor, bool)> {
        let [a, b] = n.inputs.as_slice() else { return None };
        if a == y && b != y {
            Some((idx.constant(g, b)?, true))
        } else if b == y && a != y {
            Some((idx.constant(g, a)?, false))
        } else {
            None
        }
    };
    if is_op(n, "BatchNormalization") {
        if n.inputs.len() != 5
            || n.inputs[0] != y
            || attr_i64(n, "training_mode", 0)? != 0
            || attr_i64(n, "spatial", 1)? != 1
        {
            return None;
        }
        if n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            return None;
        }
        let eps = attr_f32(n, "epsilon", 1e-5)? as f64;
        let p: Vec<Vec<f64>> = n.inputs[1..]
            .iter()
            .map(|v| idx.constant(g, v).filter(|t| t.dtype().is_float() && t.len() == m).map(|t| t.to_f64_vec()))
            .collect::<Option<_>>()?;
        let scale: Vec<f64> = (0..m).map(|c| p[0][c] / (p[3][c] + eps).sqrt()).collect();
        let shift = (0..m).map(|c| p[1][c] - p[2][c] * scale[c]).collect();
        return Some(Affine { scale, shift });
    }
    let (c, y_left) = other(n)?;
    let v = per_channel(c, rank, axis, m)?;
    let zeros = vec![0.0; m];
    let ones = vec![1.0; m];
    Some(match n.op_type.as_str() {
        _ if !n.domain.is_empty() => return None,
        "Mul" => Affine { scale: v, shift: zeros },
        "Div" if y_left && v.iter().all(|x| *x != 0.0) => {
            Affine { scale: v.iter().map(|x| 1.0 / x).collect(), shift: zeros }
        }
        "Add" => Affine { scale: ones, shift: v },
        "Sub" if y_left => Affine { scale: ones, shift: v.iter().map(|x| -x).collect() },
        "Sub" => Affine { scale: vec![-1.0; m], shift: v },
        _ => return None,
    })
}

/// `t` with slices along `axis` multiplied by `s`, rounded to `t`'s dtype.
fn scale_along(t: &Tensor, axis: usize, s: &[f64]) -> Result<Tensor> {
    let shape = t.shape();
    let inner: usize = shape[axis + 1..].iter().product();
    let n = shape[axis];
    let mut v = t.to_f64_vec();
    for (k, x) in v.iter_mut().enumerate() {
        *x *= s[(k / inner.max(1)) % n.max(1)];
    }
    Tensor::from_vec(shape.to_vec(), v)?.cast(t.dtype())
}

impl Pass for FoldBatchNorm {
    fn name(&self) -> &'static str {
        "fold_batchnorm"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let infos = crate::infer::infer_graph_with(g, false);
        rewrite_all(g, |g, idx, i| {
            let n = &g.nodes[i];
            let is_conv = is_op(n, "Conv");
            let is_gemm = is_op(n, "Gemm") && attr_i64(n, "transA", 0).is_some();
            if !(is_conv || is_gemm) || n.inputs.len() < 2 || n.outputs.len() != 1 {
                return Ok(None);
            }
            let y = &n.outputs[0];
            let Some(w) = idx.constant(g, &n.inputs[1]) else { return Ok(None) };
            if !fusable_dtype(Some(w.dtype())) || infos.get(y).and_then(|v| v.dtype) != Some(w.dtype()) {
                return Ok(None);
            }
            let Some(j) = idx.sole_reader(y) else { return Ok(None) };
            let trans_b = attr_i64(n, "transB", 0) == Some(1);
            let (rank, axis, m) = if is_conv {
                (w.rank(), 1, w.shape()[0])
            } else if w.rank() == 2 {
                (2, 1, w.shape()[if trans_b { 0 } else { 1 }])
            } else {
                return Ok(None);
            };
            let Some(aff) = affine_of(g, idx, &g.nodes[j], y, rank, axis, m) else { return Ok(None) };
            let out = g.nodes[j].outputs[0].clone();
            if infos.get(&out).and_then(|v| v.dtype) != Some(w.dtype()) {
                return Ok(None);
            }
            let dtype = w.dtype();
            let bias = n.inputs.get(2).filter(|b| !b.is_empty());
            let mut attrs = n.attrs.clone();
            let (new_w, new_b) = if is_conv {
                let b = match bias {
                    Some(b) => match idx.constant(g, b) {
                        Some(t) if t.len() == m && t.dtype() == dtype => t.to_f64_vec(),
                        _ => return Ok(None),
                    },
                    None => vec![0.0; m],
                };
                let nb: Vec<f64> = (0..m).map(|c| b[c] * aff.scale[c] + aff.shift[c]).collect();
                (scale_along(w, 0, &aff.scale)?, Tensor::from_vec(vec![m], nb)?.cast(dtype)?)
            } else {
                let beta = attr_f32(n, "beta", 1.0).unwrap_or(f32::NAN) as f64;
                let c = match bias {
                    Some(b) => match idx.constant(g, b) {
                        Some(t)
                            if t.dtype() == dtype
                                && (t.len() == 1 || t.len() == m)
                                && t.rank() <= 2
                                && t.shape().iter().rev().skip(1).all(|&d| d == 1) =>
                        {
                            let v = t.to_f64_vec();
                            (0..m).map(|k| v[if v.len() == 1 { 0 } else { k }] * beta).collect()
                        }
                        _ => return Ok(None),
                    },
                    None => vec![0.0; m],
                };
                if !beta.is_finite() {
                    return Ok(None);
                }
                let nc: Vec<f64> = (0..m).map(|k| c[k] * aff.scale[k] + aff.shift[k]).collect();
                attrs.insert("beta".into(), Attr::Float(1.0));
                (scale_along(w, if trans_b { 0 } else { 1 }, &aff.scale)?, Tensor::from_vec(vec![m], nc)?.cast(dtype)?)
            };
            let (name, op_type, x) = (n.name.clone(), n.op_type.clone(), n.inputs[0].clone());
            let wname = super::rewrite::add_constant(g, &g.nodes[i].inputs[1].clone(), new_w);
            let bname = super::rewrite::add_constant(g, &format!("{name}_bias"), new_b);
            let opset = if is_conv { 11 } else { 13 };
            let node = make_node(name, "", &op_type, opset, vec![x, wname, bname], vec![out], attrs)?;
            Ok(Some(Rewrite::replace(i, node, vec![j])))
        })
    }
}
