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
    } else {
        broadcast_index_map(t.shape(), shape).into_iter().map(|i| v[i]).collect()
    })
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
