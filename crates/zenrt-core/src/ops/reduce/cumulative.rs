//! CumSum (opset 11) and CumProd (opset 26): running sum/product along the axis given by a
//! scalar int32/int64 input, with `exclusive` (shift by one, starting from the identity) and
//! `reverse` (run from the end). Floats accumulate in f64, integers exactly with wrapping.

use crate::ops::util::{ints_of, norm_axis};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, dispatch_numeric, DType, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Cumulative {
    prod: bool,
    exclusive: bool,
    reverse: bool,
}

fn build(cx: &BuildCtx, prod: bool) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Cumulative { prod, exclusive: cx.int("exclusive", 0)? != 0, reverse: cx.int("reverse", 0)? != 0 }))
}

pub fn build_cumsum(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, false)
}
pub fn build_cumprod(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, true)
}

/// Accumulator: f64 for floats, wrapping i128 for integers (u64 kept exact).
trait Acc<T: Elem> {
    fn start(prod: bool) -> Self;
    fn step(&mut self, x: T, prod: bool);
    fn get(&self) -> T;
}

struct FloatAcc(f64);
impl<T: Elem> Acc<T> for FloatAcc {
    fn start(prod: bool) -> Self {
        FloatAcc(if prod { 1.0 } else { 0.0 })
    }
    fn step(&mut self, x: T, prod: bool) {
        if prod {
            self.0 *= x.to_f64()
        } else {
            self.0 += x.to_f64()
        }
    }
    fn get(&self) -> T {
        T::from_f64(self.0)
    }
}

struct IntAcc(i128);
impl<T: Elem> Acc<T> for IntAcc {
    fn start(prod: bool) -> Self {
        IntAcc(if prod { 1 } else { 0 })
    }
    fn step(&mut self, x: T, prod: bool) {
        let v = if T::DTYPE == DType::U64 { x.to_i64() as u64 as i128 } else { x.to_i64() as i128 };
        // Keep the accumulator reduced mod 2^64 so products cannot overflow i128 meaningfully.
        let next = if prod { self.0.wrapping_mul(v) } else { self.0.wrapping_add(v) };
        self.0 = next as i64 as i128;
    }
    fn get(&self) -> T {
        T::from_i64(self.0 as i64)
    }
}

fn scan<T: Elem, A: Acc<T>>(op: &Cumulative, x: &Tensor, axis: usize) -> Result<Tensor> {
    let xs = x.as_slice::<T>()?;
    let shape = x.shape();
    let n = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = vec![T::zero(); xs.len()];
    for o in 0..outer {
        for i in 0..inner {
            let mut acc = A::start(op.prod);
            for step in 0..n {
                let j = if op.reverse { n - 1 - step } else { step };
                let at = (o * n + j) * inner + i;
                if op.exclusive {
                    out[at] = acc.get();
                    acc.step(xs[at], op.prod);
                } else {
                    acc.step(xs[at], op.prod);
                    out[at] = acc.get();
                }
            }
        }
    }
    Tensor::from_vec(shape.to_vec(), out)
}

impl Op for Cumulative {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let name = if self.prod { "CumProd" } else { "CumSum" };
        let x = input(inputs, 0, name)?;
        let axis_t = input(inputs, 1, name)?;
        let axis = match ints_of(axis_t)?.as_slice() {
            [a] => *a,
            _ => bail!("{name}: axis must be a scalar, got shape {:?}", axis_t.shape()),
        };
        if x.rank() == 0 {
            bail!("{name}: input must have rank >= 1");
        }
        let axis = norm_axis(axis, x.rank())?;
        let out = dispatch_numeric!(x.dtype(), T => {
            if T::DTYPE.is_float() {
                scan::<T, FloatAcc>(self, x, axis)
            } else {
                scan::<T, IntAcc>(self, x, axis)
            }
        })
        .map_err(|e| match e {
            Error::UnsupportedDType { dtype, .. } => Error::UnsupportedDType { op: name.into(), dtype },
            e => e,
        })?;
        Ok(vec![out])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(crate::ops::util::same_as_input0(inputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let x = Tensor::from_vec(vec![3], vec![1i32, 2, 3]).unwrap();
        let run = |prod, exclusive, reverse| {
            let op = Cumulative { prod, exclusive, reverse };
            scan::<i32, IntAcc>(&op, &x, 0).unwrap().to_i64_vec()
        };
        assert_eq!(run(false, false, false), vec![1, 3, 6]);
        assert_eq!(run(false, true, false), vec![0, 1, 3]);
        assert_eq!(run(false, false, true), vec![6, 5, 3]);
        assert_eq!(run(false, true, true), vec![5, 3, 0]);
        assert_eq!(run(true, false, false), vec![1, 2, 6]);
        assert_eq!(run(true, true, false), vec![1, 1, 2]);
        assert_eq!(run(true, false, true), vec![6, 6, 3]);
        assert_eq!(run(true, true, true), vec![6, 3, 1]);
    }

    #[test]
    fn middle_axis() {
        let x = Tensor::from_vec(vec![2, 2, 2], (1..=8).map(|v| v as f32).collect()).unwrap();
        let op = Cumulative { prod: false, exclusive: false, reverse: false };
        let y = scan::<f32, FloatAcc>(&op, &x, 1).unwrap();
        assert_eq!(y.to_f64_vec(), vec![1., 2., 4., 6., 5., 6., 12., 14.]);
    }
}
