//! `MaxPoolGrad(dy, x)`: the gradient of `MaxPool(x)` with respect to `x`, with the MaxPool
//! node's attributes. Reruns the reference MaxPool for its argmax indices and adds each
//! output gradient to the input position that won its window (the first maximum on ties).

use crate::ops::nn::common::{from_f64_vec, Window};
use crate::ops::nn::pool::{Pool, PoolKind};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct MaxPoolGrad {
    pool: Pool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let pool = Pool { kind: PoolKind::Max { storage_order: 0 }, win: Window::parse(cx, true)?, n_outputs: 2 };
    Ok(Arc::new(MaxPoolGrad { pool }))
}

impl Op for MaxPoolGrad {
    fn run(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let dy = input(inputs, 0, "MaxPoolGrad")?;
        let x = input(inputs, 1, "MaxPoolGrad")?;
        super::check_float("MaxPoolGrad", dy, x.dtype())?;
        let fwd = self.pool.run(ctx, &[Some(x)])?;
        let idx = fwd.get(1).map(ints_of).transpose()?.unwrap_or_default();
        ensure!(
            fwd.first().map(|y| y.shape()) == Some(dy.shape()),
            "MaxPoolGrad: gradient shape {:?} differs from the pooled shape",
            dy.shape()
        );
        let mut acc = vec![0.0f64; x.len()];
        for (v, &i) in dy.to_f64_vec().into_iter().zip(&idx) {
            let i = usize::try_from(i).ok().filter(|&i| i < acc.len());
            let Some(i) = i else { crate::bail!("MaxPoolGrad: internal argmax index out of range") };
            acc[i] += v;
        }
        Ok(vec![from_f64_vec(x.dtype(), x.shape().to_vec(), acc)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(inputs
            .get(1)
            .and_then(|i| i.info)
            .map(|i| vec![ValueInfo::new("", i.dtype, i.shape.clone())])
            .unwrap_or_default())
    }
}
