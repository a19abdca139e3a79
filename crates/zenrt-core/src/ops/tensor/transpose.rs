//! Transpose: permutes axes by `perm` (default: reversed).

use super::common::{axis_of, dtype_of, out, shape_of, transpose_as};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Transpose {
    pub perm: Option<Vec<i64>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Transpose { perm: cx.ints_opt("perm")? }))
}

impl Transpose {
    fn perm(&self, rank: usize) -> Result<Vec<usize>> {
        let Some(p) = &self.perm else { return Ok((0..rank).rev().collect()) };
        if p.len() != rank {
            bail!("Transpose: perm {p:?} does not match rank {rank}");
        }
        let mut seen = vec![false; rank];
        let mut out = Vec::with_capacity(rank);
        for &a in p {
            let n = axis_of(a, rank)?;
            if seen[n] {
                bail!("Transpose: perm {p:?} is not a permutation");
            }
            seen[n] = true;
            out.push(n);
        }
        Ok(out)
    }
}

impl Op for Transpose {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Transpose")?;
        let perm = self.perm(x.rank())?;
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(vec![x.clone()]);
        }
        Ok(vec![transpose_as(x, x.shape(), &perm)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let shape = shape_of(inputs, 0).and_then(|s| {
            let p = self.perm(s.len()).ok()?;
            Some(p.iter().map(|&i| s[i].clone()).collect())
        });
        Ok(out(dtype_of(inputs, 0), shape))
    }
}
