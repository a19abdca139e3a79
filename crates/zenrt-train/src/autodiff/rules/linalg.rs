//! MatMul, Gemm, Softmax, LogSoftmax.

use super::{attr_float, attr_int, dy0, inp};
use crate::autodiff::builder::Builder;
use zenrt_core::{Attr, Error, Node, Result};

type Grads = Result<Vec<Option<String>>>;

/// Transposes the last two axes of `x` (a Transpose when the rank is known statically, else
/// an `Einsum("...ij->...ji")`).
fn swap_last2(b: &mut Builder, x: &str, r: Option<usize>) -> Result<String> {
    match r {
        Some(r) => {
            let mut perm: Vec<i64> = (0..r as i64).collect();
            perm.swap(r - 2, r - 1);
            b.node("Transpose", &[x], vec![("perm", Attr::Ints(perm))])
        }
        None => b.node("Einsum", &[x], vec![("equation", Attr::String(b"...ij->...ji".to_vec()))]),
    }
}

/// `Y = A·B` (batched, broadcasting batch axes): `dA = dY·Bᵀ`, `dB = Aᵀ·dY`, each summed
/// over broadcast batch axes. Both operands must have rank ≥ 2.
pub fn matmul(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (a, w) = (inp(n, 0), inp(n, 1));
    let (ra, rb) = (b.rank_of(a, "MatMul gradient").ok(), b.rank_of(w, "MatMul gradient").ok());
    if ra.is_some_and(|r| r < 2) || rb.is_some_and(|r| r < 2) {
        return Err(Error::Unsupported(format!("MatMul gradient with a 1-D operand (ranks {ra:?} and {rb:?})")));
    }
    let plain = ra == Some(2) && rb == Some(2);
    let mut out = vec![None, None];
    if needs[0] {
        let bt = swap_last2(b, w, rb)?;
        let g = b.node("MatMul", &[&dy, &bt], vec![])?;
        out[0] = Some(if plain { g } else { b.zenrt("SumToShape", &[&g, a], vec![])? });
    }
    if needs.get(1).copied().unwrap_or(false) {
        let at = swap_last2(b, a, ra)?;
        let g = b.node("MatMul", &[&at, &dy], vec![])?;
        out[1] = Some(if plain { g } else { b.zenrt("SumToShape", &[&g, w], vec![])? });
    }
    Ok(out)
}

/// `Y = α·A'·B' + β·C` with `A' = transA ? Aᵀ : A`, `B' = transB ? Bᵀ : B`; the gradients are
/// Gemms again with the transpose flags chosen so no explicit Transpose is needed.
pub fn gemm(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (a, w, c) = (inp(n, 0), inp(n, 1), inp(n, 2));
    let alpha = attr_float(n, "alpha", 1.0);
    let beta = attr_float(n, "beta", 1.0);
    let ta = attr_int(n, "transA", 0) != 0;
    let tb = attr_int(n, "transB", 0) != 0;
    let mut gm = |x: &str, y: &str, t1: bool, t2: bool| -> Result<String> {
        b.node(
            "Gemm",
            &[x, y],
            vec![("alpha", Attr::Float(alpha)), ("transA", Attr::Int(t1 as i64)), ("transB", Attr::Int(t2 as i64))],
        )
    };
    let mut out = vec![None, None, None];
    if needs[0] {
        out[0] = Some(if !ta { gm(&dy, w, false, !tb)? } else { gm(w, &dy, tb, true)? });
    }
    if needs.get(1).copied().unwrap_or(false) {
        out[1] = Some(if !tb { gm(a, &dy, !ta, false)? } else { gm(&dy, a, true, ta)? });
    }
    if needs.get(2).copied().unwrap_or(false) && !c.is_empty() {
        let scaled = if beta == 1.0 {
            dy.clone()
        } else {
            let s = b.scalar_like(beta as f64, c)?;
            b.mul(&dy, &s)?
        };
        out[2] = Some(b.zenrt("SumToShape", &[&scaled, c], vec![])?);
    }
    Ok(out)
}

/// `y = softmax(x)` along `axis` (opset-13 semantics): `dx = y·(dy − Σ(dy·y))`.
pub fn softmax(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    let axis = attr_int(n, "axis", -1);
    let t = b.mul(&dy, y)?;
    let s = b.reduce_sum(&t, &[axis], true)?;
    let t = b.sub(&dy, &s)?;
    Ok(vec![Some(b.mul(y, &t)?)])
}

/// `y = log_softmax(x)` along `axis`: `dx = dy − exp(y)·Σdy`.
pub fn log_softmax(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    let axis = attr_int(n, "axis", -1);
    let s = b.reduce_sum(&dy, &[axis], true)?;
    let e = b.node("Exp", &[y], vec![])?;
    let t = b.mul(&e, &s)?;
    Ok(vec![Some(b.sub(&dy, &t)?)])
}
