//! MatMulInteger: `(A - a_zero_point) · (B - b_zero_point)` with numpy matmul semantics and an
//! int32 result. Zero points are scalars, per-row of A (`[M]`) or per-column of B (`[N]`).

use super::common::batched_matmul;
use crate::ops::util::{broadcast_index_map, broadcast_shapes};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct MatMulInteger;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(MatMulInteger))
}

/// `x - zp` as i64, with `zp` a scalar, a 1-D vector along `per_axis_from_end` (1 = rows of a
/// matrix, 0 = columns) or a tensor broadcastable to `x`.
pub fn subtract_zero_point(x: &Tensor, zp: Option<&Tensor>, rows: bool) -> Result<Vec<i64>> {
    let mut v = x.to_i64_vec();
    let Some(zp) = zp else { return Ok(v) };
    let z = zp.to_i64_vec();
    let s = x.shape();
    if z.len() == 1 {
        v.iter_mut().for_each(|x| *x -= z[0]);
    } else if zp.rank() == 1 && rows && s.len() >= 2 && z.len() == s[s.len() - 2] {
        let cols = s[s.len() - 1];
        v.iter_mut().enumerate().for_each(|(i, x)| *x -= z[(i / cols) % z.len()]);
    } else if zp.rank() == 1 && !rows && z.len() == s[s.len().saturating_sub(1)..].iter().product::<usize>() {
        v.iter_mut().enumerate().for_each(|(i, x)| *x -= z[i % z.len()]);
    } else {
        let b = broadcast_shapes(s, zp.shape())?;
        if b.as_slice() != s {
            return Err(Error::Shape(format!("zero point of shape {:?} does not fit input {:?}", zp.shape(), s)));
        }
        let map = broadcast_index_map(zp.shape(), s);
        v.iter_mut().zip(map).for_each(|(x, i)| *x -= z[i]);
    }
    Ok(v)
}

impl Op for MatMulInteger {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "MatMulInteger")?;
        let b = input(inputs, 1, "MatMulInteger")?;
        for t in [a, b] {
            if !t.dtype().is_int() {
                return Err(Error::UnsupportedDType { op: "MatMulInteger".into(), dtype: t.dtype() });
            }
        }
        let av = subtract_zero_point(a, opt_input(inputs, 2), true)?;
        let bv = subtract_zero_point(b, opt_input(inputs, 3), false)?;
        let (shape, out) = batched_matmul(&av, a.shape(), &bv, b.shape())?;
        Ok(vec![Tensor::from_vec(shape, out.into_iter().map(|x| x as i32).collect::<Vec<i32>>())?])
    }
}
