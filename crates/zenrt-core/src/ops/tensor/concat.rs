//! Concat: joins inputs along `axis` (default 1 before opset 4).

use super::common::{axis_of, dtype_of, out, prod, shape_of};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, dispatch_all, Dim, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Concat {
    pub axis: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let axis = if cx.opset < 4 { cx.int("axis", 1)? } else { cx.req_int("axis")? };
    Ok(Arc::new(Concat { axis }))
}

fn concat_typed<T: Elem>(xs: &[&Tensor], axis: usize, shape: Vec<usize>) -> Result<Tensor> {
    let outer = prod(&shape[..axis]);
    let mut data: Vec<T> = Vec::with_capacity(prod(&shape));
    let slices: Vec<(&[T], usize)> =
        xs.iter().map(|x| Ok((x.as_slice::<T>()?, prod(&x.shape()[axis..])))).collect::<Result<_>>()?;
    for o in 0..outer {
        for (s, chunk) in &slices {
            data.extend_from_slice(&s[o * chunk..(o + 1) * chunk]);
        }
    }
    Tensor::from_vec(shape, data)
}

impl Op for Concat {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let xs: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
        let Some(first) = xs.first() else { bail!("Concat: no inputs") };
        let rank = first.rank();
        if rank == 0 {
            bail!("Concat: inputs must have rank >= 1");
        }
        let axis = axis_of(self.axis, rank)?;
        let mut shape = first.shape().to_vec();
        shape[axis] = 0;
        for x in &xs {
            if x.dtype() != first.dtype() {
                bail!("Concat: mixed dtypes {} and {}", first.dtype(), x.dtype());
            }
            if x.rank() != rank
                || x.shape().iter().zip(first.shape()).enumerate().any(|(i, (a, b))| i != axis && a != b)
            {
                bail!("Concat: shape {:?} does not match {:?} off axis {axis}", x.shape(), first.shape());
            }
            shape[axis] += x.shape()[axis];
        }
        checked_numel(&shape, first.dtype(), "Concat output")?;
        Ok(vec![dispatch_all!(first.dtype(), T => concat_typed::<T>(&xs, axis, shape))?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dt = (0..inputs.len()).find_map(|i| dtype_of(inputs, i));
        let shapes: Option<Vec<Vec<Dim>>> = (0..inputs.len()).map(|i| shape_of(inputs, i)).collect();
        let shape = shapes.and_then(|ss| {
            let first = ss.first()?.clone();
            let axis = axis_of(self.axis, first.len()).ok()?;
            let mut res = first.clone();
            let mut sum = Some(0usize);
            for s in &ss {
                if s.len() != first.len() {
                    return None;
                }
                sum = match (sum, &s[axis]) {
                    (Some(a), Dim::Known(b)) => Some(a + b),
                    _ => None,
                };
                for (i, d) in s.iter().enumerate() {
                    if i != axis && matches!(res[i], Dim::Unknown) {
                        res[i] = d.clone();
                    }
                }
            }
            res[axis] = sum.map(Dim::Known).unwrap_or(Dim::Unknown);
            Some(res)
        });
        Ok(out(dt, shape))
    }
}
