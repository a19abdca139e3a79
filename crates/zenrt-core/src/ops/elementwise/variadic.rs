//! Max, Min, Sum, Mean: any number (>= 1) of inputs of one dtype, numpy-broadcast together.
//!
//! Max/Min compare natively (exact for every integer type) and propagate NaN like numpy.
//! Sum/Mean of floats accumulate in f64 and round once at the end; integer Sum wraps.

use super::common::{infer_broadcast, named, same_dtypes};
use crate::ops::util::binary_map;
use crate::ops::{ExecCtx, InferInput, Op};
use crate::{bail, dispatch_all, dispatch_numeric, DType, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    Max,
    Min,
    Sum,
    Mean,
}

impl VarKind {
    fn name(self) -> &'static str {
        match self {
            VarKind::Max => "Max",
            VarKind::Min => "Min",
            VarKind::Sum => "Sum",
            VarKind::Mean => "Mean",
        }
    }
}

#[derive(Debug)]
pub struct Variadic {
    pub kind: VarKind,
}

pub fn build(kind: VarKind) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Variadic { kind }))
}

/// numpy `maximum` (or `minimum` when `max` is false): NaN wins.
fn pick<T: Elem>(a: T, b: T, max: bool) -> T {
    #[allow(clippy::eq_op)]
    if a != a {
        return a;
    }
    #[allow(clippy::eq_op)]
    if b != b {
        return b;
    }
    if (max && b > a) || (!max && b < a) {
        b
    } else {
        a
    }
}

fn fold<T: Elem>(ts: &[&Tensor], f: impl Fn(T, T) -> T + Copy) -> Result<Tensor> {
    let mut acc = ts[0].clone();
    for t in &ts[1..] {
        acc = binary_map::<T, T>(&acc, t, f)?;
    }
    Ok(acc)
}

impl Op for Variadic {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let kind = self.kind;
        let ts: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
        if ts.is_empty() {
            bail!("{}: needs at least one input", kind.name());
        }
        let dt = same_dtypes(kind.name(), &ts)?;
        if kind == VarKind::Sum && ts.len() == 2 {
            // Two f32 addends: the f32 sum is the correctly rounded f64 sum.
            if let Some(out) = super::fast_binary::binary_f32(crate::simd::BinFn::Add, ts[0], ts[1])? {
                return Ok(vec![out]);
            }
        }
        let out = match kind {
            VarKind::Max | VarKind::Min => {
                if dt == DType::Bool {
                    return Err(Error::UnsupportedDType { op: kind.name().into(), dtype: dt });
                }
                let max = kind == VarKind::Max;
                dispatch_all!(dt, T => fold::<T>(&ts, move |a, b| pick(a, b, max)))
            }
            VarKind::Sum | VarKind::Mean if dt.is_float() => {
                let f: Vec<Tensor> = ts.iter().map(|t| t.cast(DType::F64)).collect::<Result<_>>()?;
                let refs: Vec<&Tensor> = f.iter().collect();
                let mut acc = fold::<f64>(&refs, |a, b| a + b)?;
                if kind == VarKind::Mean {
                    let n = ts.len() as f64;
                    acc.as_mut_slice::<f64>()?.iter_mut().for_each(|v| *v /= n);
                }
                acc.cast(dt)
            }
            VarKind::Sum => {
                dispatch_numeric!(dt, T => fold::<T>(&ts, |a, b| T::from_i64(a.to_i64().wrapping_add(b.to_i64()))))
            }
            VarKind::Mean => Err(Error::UnsupportedDType { op: String::new(), dtype: dt }),
        };
        Ok(vec![named(kind.name(), out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_broadcast(inputs, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_nan_and_u64() {
        assert!(pick(1.0f32, f32::NAN, true).is_nan());
        assert!(pick(f32::NAN, 1.0f32, false).is_nan());
        assert_eq!(pick(u64::MAX, 1u64, true), u64::MAX);
        assert_eq!(pick(u64::MAX, 1u64, false), 1);
    }
}
