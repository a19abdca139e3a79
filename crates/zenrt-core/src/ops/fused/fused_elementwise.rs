//! `com.zenrt.FusedElementwise`: a chain of elementwise operators evaluated in one pass over
//! the output, produced by the `fuse_elementwise` pass.
//!
//! Attributes: `ops` (strings, one per step: a unary op `Relu Sigmoid Tanh Exp Log Sqrt Neg Abs
//! Erf Reciprocal` or a binary op `Add Sub Mul Div`), `operands` (ints, one per step: the input
//! index of a binary step's other operand, -1 for unary steps), `swap` (ints, one per step: 1
//! when the running value is the binary op's right operand, e.g. `x1 - acc`). The running value
//! starts as input 0. Inputs broadcast (numpy rules) to the output shape. Like the unfused
//! operators, every step gives the
//! f64 result rounded to the element type (f32 or f64).

use crate::ops::elementwise::common::erf;
use crate::ops::util::{broadcast_all, broadcast_index_map};
use crate::ops::{BuildCtx, ExecCtx, InArg, InferInput, Op};
use crate::{ensure, DType, Dim, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

/// One step of the program.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Unary(Unary),
    /// A binary op with input `operand`; `swap`: the running value is the right operand.
    Binary {
        op: Binary,
        operand: usize,
        swap: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    Relu,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Sqrt,
    Neg,
    Abs,
    Erf,
    Reciprocal,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

impl Unary {
    pub fn parse(s: &str) -> Option<Unary> {
        use Unary::*;
        Some(match s {
            "Relu" => Relu,
            "Sigmoid" => Sigmoid,
            "Tanh" => Tanh,
            "Exp" => Exp,
            "Log" => Log,
            "Sqrt" => Sqrt,
            "Neg" => Neg,
            "Abs" => Abs,
            "Erf" => Erf,
            "Reciprocal" => Reciprocal,
            _ => return None,
        })
    }

    fn eval(self, x: f64) -> f64 {
        match self {
            Unary::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Unary::Sigmoid => crate::ops::elementwise::activation::sigmoid(x),
            Unary::Tanh => x.tanh(),
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
            Unary::Sqrt => x.sqrt(),
            Unary::Neg => -x,
            Unary::Abs => x.abs(),
            Unary::Erf => erf(x),
            Unary::Reciprocal => 1.0 / x,
        }
    }
}

impl Binary {
    pub fn parse(s: &str) -> Option<Binary> {
        Some(match s {
            "Add" => Binary::Add,
            "Sub" => Binary::Sub,
            "Mul" => Binary::Mul,
            "Div" => Binary::Div,
            _ => return None,
        })
    }

    fn eval(self, a: f64, b: f64) -> f64 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
        }
    }
}

#[derive(Debug)]
pub struct FusedElementwise {
    pub steps: Vec<Step>,
}

fn attr_err(msg: String) -> Error {
    Error::Attr { attr: "ops".into(), msg }
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let ops = cx.strings_opt("ops")?.unwrap_or_default();
    let operands = cx.ints_opt("operands")?.unwrap_or_default();
    let swap = cx.ints_opt("swap")?.unwrap_or_default();
    if operands.len() != ops.len() || swap.len() != ops.len() {
        return Err(attr_err(format!(
            "ops, operands and swap must have the same length ({}, {}, {})",
            ops.len(),
            operands.len(),
            swap.len()
        )));
    }
    let mut steps = Vec::with_capacity(ops.len());
    for (k, op) in ops.iter().enumerate() {
        let step = if let Some(u) = Unary::parse(op) {
            Step::Unary(u)
        } else if let Some(b) = Binary::parse(op) {
            let operand = usize::try_from(operands[k])
                .ok()
                .filter(|&i| i < cx.n_inputs)
                .ok_or_else(|| attr_err(format!("step {k} ({op}): operand {} is not an input", operands[k])))?;
            Step::Binary { op: b, operand, swap: swap[k] != 0 }
        } else {
            return Err(attr_err(format!("step {k}: unsupported operator {op:?}")));
        };
        steps.push(step);
    }
    Ok(Arc::new(FusedElementwise { steps }))
}

/// `t` broadcast to `shape`, as a new buffer (from the run's pool when `t` already has it).
fn expand<T: crate::Elem>(t: &Tensor, shape: &[usize]) -> Result<Vec<T>> {
    let v = t.as_slice::<T>()?;
    Ok(if t.shape() == shape {
        let mut out = crate::memory::alloc_for_overwrite::<T>(v.len());
        out.copy_from_slice(v);
        out
    } else if let Some((mid, inner)) = repeated_block(t.shape(), shape) {
        let total: usize = shape.iter().product();
        let mut out = Vec::with_capacity(total);
        while out.len() < total {
            v.iter().for_each(|&y| out.extend(std::iter::repeat_n(y, inner)));
        }
        debug_assert_eq!(out.len(), total, "{mid}");
        out
    } else {
        broadcast_index_map(t.shape(), shape).into_iter().map(|i| v[i]).collect()
    })
}

/// When `t` broadcasts to `shape` as one contiguous block of axes (its other axes 1 or absent),
/// `(mid, inner)`: the block's length and the length of the output axes after it; each of `t`'s
/// values then covers a run of `inner` output values, and the output is whole repeats of
/// `mid · inner` values. `None` for other broadcasts (and a `t` of `shape` itself).
fn repeated_block(t: &[usize], shape: &[usize]) -> Option<(usize, usize)> {
    if t.len() > shape.len() || t == shape {
        return None;
    }
    let pad = shape.len() - t.len();
    let dim = |i: usize| if i < pad { 1 } else { t[i - pad] };
    let first = (0..shape.len()).find(|&i| dim(i) != 1)?;
    let last = (0..shape.len()).rfind(|&i| dim(i) != 1)?;
    if (first..=last).any(|i| dim(i) != shape[i]) {
        return None;
    }
    let mid: usize = shape[first..=last].iter().product();
    let inner: usize = shape[last + 1..].iter().product();
    (mid > 0 && inner > 0).then_some((mid, inner))
}

impl FusedElementwise {
    /// Runs the program over f64 values; `acc` holds input 0 broadcast to `shape`.
    fn eval_f64(&self, ins: &[Option<&Tensor>], shape: &[usize], acc: Vec<f64>) -> Result<Vec<f64>> {
        self.eval::<f64>(ins, shape, acc, |u, x| u.eval(x), |op, a, b| op.eval(a, b))
    }

    /// Runs the program in f32. Add/Sub/Mul/Div in f32 are exactly the f64 result rounded to
    /// f32; the transcendental steps go through f64 like the unfused operators.
    fn eval_f32(&self, ins: &[Option<&Tensor>], shape: &[usize], acc: Vec<f32>) -> Result<Vec<f32>> {
        self.eval::<f32>(
            ins,
            shape,
            acc,
            |u, x| match u {
                Unary::Relu => {
                    if x < 0.0 {
                        0.0
                    } else {
                        x
                    }
                }
                Unary::Neg => -x,
                Unary::Abs => x.abs(),
                _ => u.eval(x as f64) as f32,
            },
            |op, a, b| match op {
                Binary::Add => a + b,
                Binary::Sub => a - b,
                Binary::Mul => a * b,
                Binary::Div => a / b,
            },
        )
    }

    fn eval<T: crate::Elem>(
        &self,
        ins: &[Option<&Tensor>],
        shape: &[usize],
        mut acc: Vec<T>,
        unary: impl Fn(Unary, T) -> T,
        binary: impl Fn(Binary, T, T) -> T,
    ) -> Result<Vec<T>> {
        for step in &self.steps {
            match *step {
                Step::Unary(u) => acc.iter_mut().for_each(|x| *x = unary(u, *x)),
                Step::Binary { op, operand, swap } => {
                    let Some(t) = ins.get(operand).copied().flatten() else {
                        return Err(Error::Invalid(format!("FusedElementwise: input #{operand} is missing")));
                    };
                    // A block repeated along the outer and inner axes (BERT's position embeddings
                    // over the batch, a per-channel scale): read in place, no index map.
                    if let Some((mid, inner)) = repeated_block(t.shape(), shape).filter(|_| t.len() > 1) {
                        let v = t.as_slice::<T>()?;
                        for block in acc.chunks_exact_mut(mid * inner) {
                            for (run, &y) in block.chunks_exact_mut(inner).zip(v) {
                                for x in run {
                                    *x = if swap { binary(op, y, *x) } else { binary(op, *x, y) };
                                }
                            }
                        }
                        continue;
                    }
                    let expanded;
                    let other: &[T] = if t.len() == 1 || t.shape() == shape {
                        t.as_slice::<T>()?
                    } else {
                        expanded = expand(t, shape)?;
                        &expanded
                    };
                    if let [c] = other {
                        let c = *c;
                        for x in acc.iter_mut() {
                            *x = if swap { binary(op, c, *x) } else { binary(op, *x, c) };
                        }
                    } else {
                        for (x, &y) in acc.iter_mut().zip(other) {
                            *x = if swap { binary(op, y, *x) } else { binary(op, *x, y) };
                        }
                    }
                }
            }
        }
        Ok(acc)
    }

    /// The output's shape and dtype (inputs checked).
    fn out_shape(inputs: &[Option<&Tensor>]) -> Result<(Vec<usize>, DType)> {
        let ins: Vec<&Tensor> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| t.ok_or_else(|| Error::Invalid(format!("FusedElementwise: input #{i} is missing"))))
            .collect::<Result<_>>()?;
        ensure!(!ins.is_empty(), "FusedElementwise: needs at least one input");
        let dtype = ins[0].dtype();
        for t in &ins {
            ensure!(t.dtype() == dtype, "FusedElementwise: input dtypes differ ({} and {})", dtype, t.dtype());
        }
        let shapes: Vec<&[usize]> = ins.iter().map(|t| t.shape()).collect();
        let shape = broadcast_all(&shapes)?;
        crate::checked_numel(&shape, dtype, "FusedElementwise output")?;
        Ok((shape, dtype))
    }

    /// Runs the program; `first`: input 0 by value (already of the output's shape), whose buffer
    /// becomes the output's (`ins[0]` is then not read).
    fn compute(
        &self,
        ins: &[Option<&Tensor>],
        shape: Vec<usize>,
        dtype: DType,
        first: Option<Tensor>,
    ) -> Result<Tensor> {
        let x0 = || {
            ins.first().copied().flatten().ok_or_else(|| Error::Invalid("FusedElementwise: input #0 is missing".into()))
        };
        match dtype {
            DType::F32 => {
                let acc = match first {
                    Some(t) => t.into_vec::<f32>()?,
                    None => expand(x0()?, &shape)?,
                };
                Tensor::from_vec(shape.clone(), self.eval_f32(ins, &shape, acc)?)
            }
            DType::F64 => {
                let acc = match first {
                    Some(t) => t.into_vec::<f64>()?,
                    None => expand(x0()?, &shape)?,
                };
                Tensor::from_vec(shape.clone(), self.eval_f64(ins, &shape, acc)?)
            }
            dt => Err(Error::UnsupportedDType { op: "FusedElementwise".into(), dtype: dt }),
        }
    }
}

impl Op for FusedElementwise {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (shape, dtype) = Self::out_shape(inputs)?;
        Ok(vec![self.compute(inputs, shape, dtype, None)?])
    }

    fn inplace_inputs(&self) -> &'static [usize] {
        &[0]
    }

    /// Computes in input 0's buffer when it dies here, already has the output's shape and no
    /// step reads it again (the residual `Add → Relu` of a ResNet block: no new buffer).
    fn run_inplace(&self, ctx: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        let (shape, dtype) = Self::out_shape(&InArg::refs(inputs))?;
        let rereads = self.steps.iter().any(|s| matches!(s, Step::Binary { operand: 0, .. }));
        let fits =
            |t: &Tensor| !rereads && t.shape() == shape.as_slice() && matches!(t.dtype(), DType::F32 | DType::F64);
        let Some(x) = InArg::take_owned(inputs, 0, fits) else {
            return self.run(ctx, &InArg::refs(inputs));
        };
        Ok(vec![self.compute(&InArg::refs(inputs), shape, dtype, Some(x))?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let mut shape: Option<Vec<Dim>> = Some(vec![]);
        for i in inputs {
            shape = match (shape, i.info.and_then(|v| v.shape.as_ref())) {
                (Some(s), Some(t)) => Some(crate::ops::util::broadcast_dims(&s, t)),
                _ => None,
            };
        }
        let dtype = inputs.first().and_then(|i| i.info).and_then(|v| v.dtype);
        Ok(vec![ValueInfo::new("", dtype, shape)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks read in place against the index map, over assorted broadcasts (and the shapes
    /// that are not one block: they take the index map).
    #[test]
    fn repeated_blocks_match_the_index_map() {
        let shape = [2usize, 3, 4, 5];
        let cases: [&[usize]; 9] =
            [&[1, 3, 4, 5], &[3, 4, 5], &[5], &[4, 1], &[2, 1, 1, 1], &[1, 3, 1, 1], &[3, 1, 5], &[2, 1, 4, 1], &[1]];
        for t in cases {
            let n: usize = t.iter().product();
            let tv: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let tt = Tensor::from_vec(t.to_vec(), tv.clone()).unwrap();
            let want: Vec<f32> = broadcast_index_map(t, &shape).into_iter().map(|i| tv[i]).collect();
            assert_eq!(expand::<f32>(&tt, &shape).unwrap(), want, "expand {t:?}");
            // Not one block: two separate axes, or no axis at all (a scalar).
            let one_block = !matches!(t, [3, 1, 5] | [2, 1, 4, 1] | [1]);
            assert_eq!(repeated_block(t, &shape).is_some(), one_block, "{t:?}");
            // x - t through the program (the subtraction shows the operand order).
            let x: Vec<f32> = (0..120).map(|i| (i * 7 % 13) as f32).collect();
            let xt = Tensor::from_vec(shape.to_vec(), x.clone()).unwrap();
            for swap in [false, true] {
                let f = FusedElementwise { steps: vec![Step::Binary { op: Binary::Sub, operand: 1, swap }] };
                let got = f.eval_f32(&[Some(&xt), Some(&tt)], &shape, x.clone()).unwrap();
                let exp: Vec<f32> = x.iter().zip(&want).map(|(&a, &b)| if swap { b - a } else { a - b }).collect();
                assert_eq!(got, exp, "{t:?} swap={swap}");
            }
        }
    }
}
