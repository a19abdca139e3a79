//! LpNormalization: divides by the L1 or L2 norm along `axis` (zero norms give zeros).

use super::common::{float_vec, from_f64_vec};
use crate::ops::util::{norm_axis, same_as_input0};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct LpNorm {
    pub axis: i64,
    pub p: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let p = cx.int("p", 2)?;
    if p != 1 && p != 2 {
        return Err(Error::Attr { attr: "p".into(), msg: format!("must be 1 or 2, got {p}") });
    }
    Ok(Arc::new(LpNorm { axis: cx.int("axis", -1)?, p }))
}

impl Op for LpNorm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "LpNormalization")?;
        let axis = norm_axis(self.axis, x.rank())?;
        let mut xv = float_vec(x, "LpNormalization")?;
        let n = x.shape().get(axis).copied().unwrap_or(1);
        let inner: usize = x.shape()[axis + 1..].iter().product();
        let outer: usize = x.shape()[..axis].iter().product();
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * n + k) * inner + i;
                let norm = if self.p == 1 {
                    (0..n).map(|k| xv[at(k)].abs()).sum::<f64>()
                } else {
                    (0..n).map(|k| xv[at(k)] * xv[at(k)]).sum::<f64>().sqrt()
                };
                for k in 0..n {
                    let v = &mut xv[at(k)];
                    *v = if norm == 0.0 { 0.0 } else { *v / norm };
                }
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), x.shape().to_vec(), xv)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
