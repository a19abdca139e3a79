//! Gemm: `Y = alpha · op(A) · op(B) + beta · C`, with `op` an optional transpose and C
//! (optional since opset 11) unidirectionally broadcast to `(M, N)`.
//! The opset < 7 `broadcast` attribute is accepted (C is broadcast either way).

use super::common::{tensor_from_f64, tensor_from_i64, GemmElem, MatView};
use crate::ops::util::broadcast_index_map;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, DType, Dim, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Gemm {
    pub trans_a: bool,
    pub trans_b: bool,
    pub alpha: f32,
    pub beta: f32,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Gemm::parse(cx)?))
}

impl Gemm {
    /// Parses Gemm's attributes (shared with `com.zenrt.FusedGemm`).
    pub fn parse(cx: &BuildCtx) -> Result<Gemm> {
        Ok(Gemm {
            trans_a: cx.int("transA", 0)? != 0,
            trans_b: cx.int("transB", 0)? != 0,
            alpha: cx.float("alpha", 1.0)?,
            beta: cx.float("beta", 1.0)?,
        })
    }

    /// (M, K, N) and the views of A and B.
    fn dims(&self, a: &Tensor, b: &Tensor) -> Result<(usize, usize, usize, MatView, MatView)> {
        if a.rank() != 2 || b.rank() != 2 {
            return Err(Error::Shape(format!("Gemm: A and B must be 2-D, got {:?} and {:?}", a.shape(), b.shape())));
        }
        let (ar, ac) = (a.shape()[0], a.shape()[1]);
        let (br, bc) = (b.shape()[0], b.shape()[1]);
        let (m, k, av) =
            if self.trans_a { (ac, ar, MatView::transposed(0, ac)) } else { (ar, ac, MatView::row_major(0, ac)) };
        let (kb, n, bv) =
            if self.trans_b { (bc, br, MatView::transposed(0, bc)) } else { (br, bc, MatView::row_major(0, bc)) };
        if k != kb {
            return Err(Error::Shape(format!(
                "Gemm: inner dimensions differ (A {:?} transA={}, B {:?} transB={})",
                a.shape(),
                self.trans_a,
                b.shape(),
                self.trans_b
            )));
        }
        Ok((m, k, n, av, bv))
    }
}

/// Index map of C (broadcast to (m, n)), or None when C is absent.
fn c_map(c: Option<&Tensor>, m: usize, n: usize) -> Result<Option<Vec<usize>>> {
    let Some(c) = c else { return Ok(None) };
    if c.rank() > 2 {
        return Err(Error::Shape(format!("Gemm: C must have rank <= 2, got {:?}", c.shape())));
    }
    let out = [m, n];
    let off = 2 - c.rank();
    for (i, &d) in c.shape().iter().enumerate() {
        if d != 1 && d != out[i + off] {
            return Err(Error::Shape(format!("Gemm: C of shape {:?} cannot broadcast to [{m}, {n}]", c.shape())));
        }
    }
    Ok(Some(broadcast_index_map(c.shape(), &out)))
}

impl Op for Gemm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "Gemm")?;
        let b = input(inputs, 1, "Gemm")?;
        let c = opt_input(inputs, 2);
        let dt = a.dtype();
        if b.dtype() != dt || c.is_some_and(|c| c.dtype() != dt) {
            bail!("Gemm: input dtypes differ");
        }
        let (m, k, n, av, bv) = self.dims(a, b)?;
        let total = checked_numel(&[m, n], dt, "Gemm output")?;
        let cmap = c_map(c, m, n)?;
        let (alpha, beta) = (self.alpha, self.beta);
        match dt {
            DType::F32 => {
                let mut o = crate::memory::alloc::<f32>(total);
                f32::gemm(m, n, k, a.as_slice()?, av, b.as_slice()?, bv, &mut o)?;
                if alpha != 1.0 {
                    o.iter_mut().for_each(|x| *x *= alpha);
                }
                if let (Some(c), Some(map)) = (c, &cmap) {
                    if beta != 0.0 {
                        let cv = c.as_slice::<f32>()?;
                        o.iter_mut().zip(map).for_each(|(x, &i)| *x += cv[i] * beta);
                    }
                }
                Ok(vec![Tensor::from_vec(vec![m, n], o)?])
            }
            DType::F64 | DType::F16 | DType::BF16 => {
                let (af, bf) = (a.to_f64_vec(), b.to_f64_vec());
                let mut o = vec![0f64; total];
                f64::gemm(m, n, k, &af, av, &bf, bv, &mut o)?;
                o.iter_mut().for_each(|x| *x *= alpha as f64);
                if let (Some(c), Some(map)) = (c, &cmap) {
                    if beta != 0.0 {
                        let cv = c.to_f64_vec();
                        o.iter_mut().zip(map).for_each(|(x, &i)| *x += cv[i] * beta as f64);
                    }
                }
                Ok(vec![tensor_from_f64(dt, vec![m, n], o)?])
            }
            DType::Bool => Err(Error::UnsupportedDType { op: "Gemm".into(), dtype: dt }),
            _ => {
                let (ai, bi) = (a.to_i64_vec(), b.to_i64_vec());
                let mut o = vec![0i64; total];
                i64::gemm(m, n, k, &ai, av, &bi, bv, &mut o)?;
                let cv = c.map(|c| c.to_i64_vec());
                if alpha == 1.0 && (beta == 1.0 || cv.is_none()) {
                    if let (Some(cv), Some(map)) = (&cv, &cmap) {
                        o.iter_mut().zip(map).for_each(|(x, &i)| *x = x.wrapping_add(cv[i]));
                    }
                    return Ok(vec![tensor_from_i64(dt, vec![m, n], o)?]);
                }
                let mut of: Vec<f64> = o.iter().map(|&x| x as f64 * alpha as f64).collect();
                if let (Some(cv), Some(map)) = (&cv, &cmap) {
                    if beta != 0.0 {
                        of.iter_mut().zip(map).for_each(|(x, &i)| *x += cv[i] as f64 * beta as f64);
                    }
                }
                Ok(vec![tensor_from_f64(dt, vec![m, n], of)?])
            }
        }
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let (Some(a), Some(b)) = (inputs.first().and_then(|i| i.info), inputs.get(1).and_then(|i| i.info)) else {
            return Ok(vec![]);
        };
        let dim = |s: &Option<Vec<Dim>>, i: usize| -> Option<Dim> {
            s.as_ref().filter(|s| s.len() == 2).map(|s| s[i].clone())
        };
        let m = dim(&a.shape, if self.trans_a { 1 } else { 0 });
        let n = dim(&b.shape, if self.trans_b { 0 } else { 1 });
        let shape = Some(vec![m.unwrap_or(Dim::Unknown), n.unwrap_or(Dim::Unknown)]);
        Ok(vec![ValueInfo::new("", a.dtype.or(b.dtype), shape)])
    }
}
