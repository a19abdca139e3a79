//! Gemm, MatMul (batched, broadcasting) and their fused forms, on cuBLAS SGEMM.

use super::{
    arg, broadcast_shape, broadcast_strides, contiguous_strides, need_f32, strided_copy, Act, Attrs, BResult, Cx,
    GpuOp, Val,
};
use crate::gpu::{GTensor, Gpu};
use zenrt_core::{DType, Error, Result};

pub(super) fn build_gemm(a: &Attrs, fused: bool) -> BResult {
    Ok(Box::new(Gemm {
        alpha: a.float("alpha", 1.0)?,
        beta: a.float("beta", 1.0)?,
        ta: a.int("transA", 0)? != 0,
        tb: a.int("transB", 0)? != 0,
        act: if fused { Act::from_attrs(a)? } else { Act::NONE },
    }))
}

pub(super) fn build_matmul(a: &Attrs, fused: bool) -> BResult {
    Ok(Box::new(MatMul { act: if fused { Act::from_attrs(a)? } else { Act::NONE }, bias: fused && a.has_input(2) }))
}

/// y = act(y + bias[channel]) in place; channel = (i / inner) % ch.
pub(crate) fn bias_act(
    gpu: &Gpu,
    y: &GTensor,
    bias: Option<&GTensor>,
    inner: usize,
    ch: usize,
    act: Act,
) -> Result<()> {
    if bias.is_none() && act.code == 0 {
        return Ok(());
    }
    let n = y.len();
    let bp = bias.map(|b| b.ptr()).unwrap_or(0);
    gpu.launch_n(
        "bias_act_f32",
        n,
        &[&(n as i64), &(inner.max(1) as i64), &(ch.max(1) as i64), &bp, &act.code, &act.a, &act.b, &y.ptr()],
    )
}

struct Gemm {
    alpha: f32,
    beta: f32,
    ta: bool,
    tb: bool,
    act: Act,
}

impl GpuOp for Gemm {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let (a, b) = (arg(ins, 0, "Gemm")?, arg(ins, 1, "Gemm")?);
        need_f32(a, "Gemm")?;
        need_f32(b, "Gemm")?;
        let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
        if sa.len() != 2 || sb.len() != 2 {
            return Err(Error::Shape(format!("Gemm needs 2-D operands, got {sa:?} and {sb:?}")));
        }
        let (m, k) = if self.ta { (sa[1], sa[0]) } else { (sa[0], sa[1]) };
        let (k2, n) = if self.tb { (sb[1], sb[0]) } else { (sb[0], sb[1]) };
        if k != k2 {
            return Err(Error::Shape(format!("Gemm: inner dimensions differ ({sa:?}, {sb:?})")));
        }
        let (ga, gb) = (cx.dev(a)?, cx.dev(b)?);
        let y = cx.gpu.empty(DType::F32, vec![m, n])?;
        let c = ins.get(2).copied().flatten();
        let mut beta = 0.0f32;
        let mut bias: Option<GTensor> = None;
        if let Some(c) = c {
            need_f32(c, "Gemm")?;
            let cs = c.shape();
            let gc = cx.dev(c)?;
            let is_row = cs.iter().product::<usize>() == n && cs.last().copied() == Some(n) && n > 1;
            if is_row && self.beta == 1.0 {
                bias = Some(gc);
            } else {
                let st = broadcast_strides(cs, &[m, n])?;
                strided_copy(cx.gpu, DType::F32, &[m, n], gc.ptr(), &st, 0, y.ptr(), &contiguous_strides(&[m, n]), 0)?;
                beta = self.beta;
            }
        }
        let lda = if self.ta { m } else { k };
        let ldb = if self.tb { k } else { n };
        cx.gpu.sgemm(self.ta, self.tb, m, n, k, self.alpha, ga.ptr(), lda, 0, gb.ptr(), ldb, 0, beta, y.ptr(), 0, 1)?;
        bias_act(cx.gpu, &y, bias.as_ref(), 1, n, self.act)?;
        Ok(vec![Val::Dev(y)])
    }
}

struct MatMul {
    act: Act,
    bias: bool,
}

/// `a @ b` with numpy semantics (the MatMul kernel), for ops built on products.
pub(super) fn matmul(cx: &Cx, a: &Val, b: &Val) -> Result<GTensor> {
    match (MatMul { act: Act::NONE, bias: false }).run(cx, &[Some(a), Some(b)])?.pop() {
        Some(Val::Dev(g)) => Ok(g),
        _ => Err(Error::Invalid("MatMul (CUDA) gave no device output".into())),
    }
}

/// Makes `g` (shape `batch ++ [r, c]`) contiguous over the broadcast batch shape `bb`.
fn expand_batch(cx: &Cx, g: &GTensor, bb: &[usize], r: usize, c: usize) -> Result<GTensor> {
    let mut out_shape = bb.to_vec();
    out_shape.extend([r, c]);
    let st = broadcast_strides(g.shape(), &out_shape)?;
    let y = cx.gpu.empty(g.dtype(), out_shape.clone())?;
    strided_copy(cx.gpu, g.dtype(), &out_shape, g.ptr(), &st, 0, y.ptr(), &contiguous_strides(&out_shape), 0)?;
    Ok(y)
}

impl GpuOp for MatMul {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let (a, b) = (arg(ins, 0, "MatMul")?, arg(ins, 1, "MatMul")?);
        need_f32(a, "MatMul")?;
        need_f32(b, "MatMul")?;
        let (mut sa, mut sb) = (a.shape().to_vec(), b.shape().to_vec());
        if sa.is_empty() || sb.is_empty() {
            return Err(Error::Shape("MatMul of a scalar".into()));
        }
        let a1 = sa.len() == 1;
        let b1 = sb.len() == 1;
        if a1 {
            sa.insert(0, 1);
        }
        if b1 {
            sb.push(1);
        }
        let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        if k != k2 {
            return Err(Error::Shape(format!("MatMul: inner dimensions differ ({:?}, {:?})", a.shape(), b.shape())));
        }
        let (ba, bbt) = (&sa[..sa.len() - 2], &sb[..sb.len() - 2]);
        let bshape = broadcast_shape(&[ba, bbt])?;
        let batch: usize = bshape.iter().product();
        let mut out = bshape.clone();
        if !a1 {
            out.push(m);
        }
        if !b1 {
            out.push(n);
        }
        let (ga, gb) = (cx.dev(a)?.view(sa.clone()), cx.dev(b)?.view(sb.clone()));
        let y = cx.gpu.empty(DType::F32, out)?;
        let na: usize = ba.iter().product();
        let nb: usize = bbt.iter().product();
        if nb == 1 {
            // B shared by every batch: fold A's batch into M when A is not broadcast.
            let ga = if na == batch { ga } else { expand_batch(cx, &ga, &bshape, m, k)? };
            cx.gpu.sgemm(false, false, batch * m, n, k, 1.0, ga.ptr(), k, 0, gb.ptr(), n, 0, 0.0, y.ptr(), 0, 1)?;
        } else {
            let (ga, sa_) = if na == batch && ba == bshape.as_slice() {
                (ga, m * k)
            } else if na == 1 {
                (ga, 0)
            } else {
                (expand_batch(cx, &ga, &bshape, m, k)?, m * k)
            };
            let (gb, sb_) = if nb == batch && bbt == bshape.as_slice() {
                (gb, k * n)
            } else {
                (expand_batch(cx, &gb, &bshape, k, n)?, k * n)
            };
            cx.gpu.sgemm(false, false, m, n, k, 1.0, ga.ptr(), k, sa_, gb.ptr(), n, sb_, 0.0, y.ptr(), m * n, batch)?;
        }
        let bias = if self.bias {
            let bv = arg(ins, 2, "FusedMatMul")?;
            need_f32(bv, "FusedMatMul")?;
            if bv.shape().iter().product::<usize>() != n {
                return Err(Error::Shape(format!("FusedMatMul: bias {:?} is not [{n}]", bv.shape())));
            }
            Some(cx.dev(bv)?)
        } else {
            None
        };
        bias_act(cx.gpu, &y, bias.as_ref(), 1, n, self.act)?;
        Ok(vec![Val::Dev(y)])
    }
}
