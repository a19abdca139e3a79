//! `Add(MatMul(A, B), bias)` (either operand order) → `com.zenrt.FusedMatMul(A, B, bias)` when
//! `bias` is a constant whose only non-1 dimension is the last one and equals the output's last
//! dimension (`[N]`, `[1, N]`, `[1, 1, N]`, ...; its rank must not exceed the output's), so the
//! Add broadcasts it along rows without changing the output shape. The MatMul output must have no
//! other reader. A 1-element bias is expanded to `[N]` when `N` is known.

use super::rewrite::{add_constant, fusable_dtype, is_op, make_fused, rewrite_all, Rewrite};
use super::Pass;
use crate::{Graph, Result, Tensor};

pub struct FuseMatMulBias;

impl Pass for FuseMatMulBias {
    fn name(&self) -> &'static str {
        "fuse_matmul_bias"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let infos = crate::infer::infer_graph_with(g, false);
        rewrite_all(g, |g, idx, i| {
            let n = &g.nodes[i];
            if !is_op(n, "MatMul") || n.inputs.len() != 2 || n.outputs.len() != 1 {
                return Ok(None);
            }
            let y = &n.outputs[0];
            let Some(info) = infos.get(y) else { return Ok(None) };
            let Some(out_shape) = info.shape.as_ref() else { return Ok(None) };
            let Some(crate::Dim::Known(cols)) = out_shape.last().cloned() else { return Ok(None) };
            if !fusable_dtype(info.dtype) || out_shape.is_empty() {
                return Ok(None);
            }
            let Some(j) = idx.sole_reader(y) else { return Ok(None) };
            let add = &g.nodes[j];
            if !is_op(add, "Add") || add.inputs.len() != 2 {
                return Ok(None);
            }
            let bname = if add.inputs[0] == *y { &add.inputs[1] } else { &add.inputs[0] };
            if bname == y {
                return Ok(None);
            }
            let Some(b) = idx.constant(g, bname) else { return Ok(None) };
            let last_ok = b.shape().last().is_none_or(|&d| d == cols || d == 1);
            let rest_ok = b.shape().iter().rev().skip(1).all(|&d| d == 1);
            if Some(b.dtype()) != info.dtype || b.rank() > out_shape.len() || !last_ok || !rest_ok {
                return Ok(None);
            }
            let out = add.outputs[0].clone();
            let (name, a, bm) = (n.name.clone(), n.inputs[0].clone(), n.inputs[1].clone());
            let bias = if b.rank() == 1 && b.len() == cols {
                bname.clone()
            } else {
                let v =
                    if b.len() == cols { b.clone() } else { Tensor::full(b.dtype(), vec![cols], b.to_f64_vec()[0])? };
                let v = v.reshape(vec![cols])?;
                add_constant(g, &format!("{name}_bias"), v)
            };
            let node = make_fused(name, "FusedMatMul", vec![a, bm, bias], vec![out], Default::default())?;
            Ok(Some(Rewrite::replace(i, node, vec![j])))
        })
    }
}
