//! SequenceMap: runs the `body` subgraph once per element of the input sequence. Additional
//! inputs that are sequences (of the same length) contribute their i-th element; tensors are
//! passed whole to every iteration. Each body output is collected into an output sequence.

use super::common::{seq, value_in, values_only};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, ensure, Graph, Result, Tensor, Value, ValueInfo, ValueKind};
use std::sync::Arc;

const OP: &str = "SequenceMap";

#[derive(Debug)]
pub struct SequenceMap {
    body: Arc<Graph>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SequenceMap { body: cx.graph("body")? }))
}

/// One per-iteration argument source.
enum Arg<'a> {
    PerElement(&'a [Tensor]),
    Whole(&'a Value),
}

impl Op for SequenceMap {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only(OP))
    }

    fn run_values(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let mut args = Vec::with_capacity(inputs.len());
        let mut len = None;
        for i in 0..inputs.len() {
            let v = value_in(inputs, i, OP)?;
            let seq_of = match v {
                Value::Sequence(s) => Some(s.as_slice()),
                Value::Optional(Some(b)) => match b.as_ref() {
                    Value::Sequence(s) => Some(s.as_slice()),
                    _ => None,
                },
                _ => None,
            };
            match seq_of {
                Some(s) => {
                    if let Some(n) = len {
                        ensure!(s.len() == n, "{OP}: input #{i} has {} elements, input #0 has {n}", s.len());
                    }
                    len = Some(s.len());
                    args.push(Arg::PerElement(s));
                }
                None if i == 0 => bail!("{OP}: input #0 must be a sequence, got a {}", v.kind_name()),
                None => args.push(Arg::Whole(v)),
            }
        }
        let n = len.unwrap_or(0);
        let body_inputs = self.body.real_inputs().count();
        ensure!(body_inputs == args.len(), "{OP}: body takes {body_inputs} inputs, the node has {}", args.len());
        let n_out = self.body.outputs.len();
        let mut outs: Vec<Vec<Tensor>> = vec![Vec::with_capacity(n); n_out];
        for k in 0..n {
            let call: Vec<Value> = args
                .iter()
                .map(|a| match a {
                    Arg::PerElement(s) => Value::from(s[k].clone()),
                    Arg::Whole(v) => (*v).clone(),
                })
                .collect();
            let res = ctx.run_subgraph_values(&self.body, call)?;
            ensure!(res.len() == n_out, "{OP}: body returned {} outputs, declared {n_out}", res.len());
            for (acc, v) in outs.iter_mut().zip(res) {
                acc.push(v.into_tensor()?);
            }
        }
        Ok(outs.into_iter().map(seq).collect())
    }

    fn infer(&self, _: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(self
            .body
            .outputs
            .iter()
            .map(|o| {
                let mut vi = ValueInfo::new("", o.dtype, None);
                vi.kind = ValueKind::Sequence;
                vi
            })
            .collect())
    }
}
