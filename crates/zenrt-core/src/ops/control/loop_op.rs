//! Loop: a generic loop with an optional trip count `M`, an optional condition and N
//! loop-carried values. The body takes (iteration_num: int64 scalar, cond: bool scalar,
//! carried...) and returns (cond, carried..., scan outputs...); each scan output is stacked
//! over iterations along a new axis 0. Carried values may change shape between iterations and
//! may be sequences or optionals (scan outputs are tensors).

use super::common::{empty_stack, stack, truth};
use crate::ops::{BuildCtx, ExecCtx, Op};
use crate::{ensure, Error, Graph, Result, Tensor, Value};
use std::sync::Arc;

#[derive(Debug)]
pub struct Loop {
    body: Arc<Graph>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Loop { body: cx.graph("body")? }))
}

impl Op for Loop {
    fn run(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let vals: Vec<Option<Value>> = inputs.iter().map(|t| t.map(|t| Value::from(t.clone()))).collect();
        let refs: Vec<Option<&Value>> = vals.iter().map(|v| v.as_ref()).collect();
        self.run_values(ctx, &refs)?.into_iter().map(Value::into_tensor).collect()
    }

    fn run_values(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let tensor_in = |i: usize| -> Result<Option<&Tensor>> {
            match inputs.get(i).copied().flatten() {
                None | Some(Value::Optional(None)) => Ok(None),
                Some(v) => v.as_tensor().map(Some),
            }
        };
        let max_trips = match tensor_in(0)? {
            Some(m) => {
                ensure!(
                    m.dtype().is_int() && m.len() == 1,
                    "Loop: M must be a single integer, got {}{:?}",
                    m.dtype(),
                    m.shape()
                );
                Some(m.to_i64_vec()[0])
            }
            None => None,
        };
        let mut keep = match tensor_in(1)? {
            Some(c) => truth(c, "Loop: cond")?,
            None => true,
        };
        let n = inputs.len().saturating_sub(2);
        let mut carried: Vec<Value> = Vec::with_capacity(n);
        for (i, t) in inputs.iter().skip(2).enumerate() {
            match t {
                Some(v) => carried.push((*v).clone()),
                None => return Err(Error::Invalid(format!("Loop: loop-carried input #{i} is missing"))),
            }
        }
        let body_inputs = self.body.real_inputs().count();
        ensure!(
            body_inputs == 2 + n,
            "Loop: body takes {body_inputs} inputs, expected {} (iteration_num, cond and {n} carried values)",
            2 + n
        );
        let n_out = self.body.outputs.len();
        ensure!(n_out > n, "Loop: body has {n_out} outputs, expected at least {}", 1 + n);
        let k = n_out - 1 - n;
        let mut scans: Vec<Vec<Tensor>> = vec![Vec::new(); k];
        let mut it: i64 = 0;
        while keep && max_trips.is_none_or(|m| it < m) {
            let mut args = Vec::with_capacity(2 + n);
            args.push(Value::from(Tensor::scalar(it)));
            args.push(Value::from(Tensor::scalar(keep)));
            args.append(&mut carried);
            let mut outs = ctx.run_subgraph_values(&self.body, args)?;
            ensure!(outs.len() == n_out, "Loop: body returned {} outputs, expected {n_out}", outs.len());
            let scan_outs = outs.split_off(1 + n);
            carried = outs.split_off(1);
            keep = truth(outs[0].as_tensor()?, "Loop: body condition output")?;
            for (acc, v) in scans.iter_mut().zip(scan_outs) {
                match v {
                    Value::Tensor(t) => acc.push(Arc::try_unwrap(t).unwrap_or_else(|a| (*a).clone())),
                    other => {
                        return Err(Error::Unsupported(format!(
                            "Loop: scan output is a {} (only tensors can be stacked)",
                            other.kind_name()
                        )))
                    }
                }
            }
            it += 1;
        }
        let mut result = carried;
        for (j, acc) in scans.iter().enumerate() {
            result.push(Value::from(if acc.is_empty() {
                empty_stack(&self.body.outputs[1 + n + j], 0, "Loop scan output")?
            } else {
                stack(acc, 0, "Loop scan output")?
            }));
        }
        Ok(result)
    }
}
