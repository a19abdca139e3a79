//! Trilu: keeps the upper (`upper`=1, default) or lower triangle of the last two axes, shifted by
//! the optional diagonal offset input `k`; the rest becomes zero.

use super::common::prod;
use crate::ops::util::{ints_of, same_as_input0};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, dispatch_all, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Trilu {
    pub upper: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Trilu { upper: cx.int("upper", 1)? != 0 }))
}

fn trilu_typed<T: Elem>(x: &Tensor, k: i64, upper: bool) -> Result<Tensor> {
    let r = x.rank();
    let (n, m) = (x.shape()[r - 2], x.shape()[r - 1]);
    let mut out = x.clone();
    let o = out.as_mut_slice::<T>()?;
    let batch = prod(&x.shape()[..r - 2]);
    for b in 0..batch {
        for i in 0..n {
            for j in 0..m {
                let d = j as i64 - i as i64;
                let keep = if upper { d >= k } else { d <= k };
                if !keep {
                    o[(b * n + i) * m + j] = T::zero();
                }
            }
        }
    }
    Ok(out)
}

impl Op for Trilu {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Trilu")?;
        if x.rank() < 2 {
            bail!("Trilu: input must have rank >= 2");
        }
        let k = match opt_input(inputs, 1) {
            Some(t) => *ints_of(t)?.first().unwrap_or(&0),
            None => 0,
        };
        Ok(vec![dispatch_all!(x.dtype(), T => trilu_typed::<T>(x, k, self.upper))?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
