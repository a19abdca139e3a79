//! If: runs `then_branch` or `else_branch` (subgraphs without inputs) depending on a scalar
//! condition; the node's outputs are the branch's outputs (shapes may differ per branch; the
//! outputs may be tensors, sequences or optionals).

use super::common::truth;
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Error, Graph, Result, Tensor, Value, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct If {
    then_branch: Arc<Graph>,
    else_branch: Arc<Graph>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(If { then_branch: cx.graph("then_branch")?, else_branch: cx.graph("else_branch")? }))
}

impl Op for If {
    fn run(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let vals: Vec<Option<Value>> = inputs.iter().map(|t| t.map(|t| Value::from(t.clone()))).collect();
        let refs: Vec<Option<&Value>> = vals.iter().map(|v| v.as_ref()).collect();
        self.run_values(ctx, &refs)?.into_iter().map(Value::into_tensor).collect()
    }

    fn run_values(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let c = inputs
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| Error::Invalid("If: required input #0 (cond) is missing".into()))?;
        let cond = truth(c.as_tensor()?, "If condition")?;
        let g = if cond { &self.then_branch } else { &self.else_branch };
        let outs = ctx.run_subgraph_values(g, vec![])?;
        ensure!(
            outs.len() == g.outputs.len(),
            "If: branch returned {} outputs, declared {}",
            outs.len(),
            g.outputs.len()
        );
        Ok(outs)
    }

    fn infer(&self, _: &[InferInput]) -> Result<Vec<ValueInfo>> {
        // Where both branches declare the same type, that is the output's type.
        let (t, e) = (&self.then_branch.outputs, &self.else_branch.outputs);
        if t.len() != e.len() {
            return Ok(vec![]);
        }
        Ok(t.iter()
            .zip(e)
            .map(|(a, b)| {
                let dtype = if a.dtype == b.dtype { a.dtype } else { None };
                let shape = if a.shape == b.shape { a.shape.clone() } else { None };
                let mut vi = ValueInfo::new("", dtype, shape);
                if a.kind == b.kind {
                    vi.kind = a.kind;
                }
                vi
            })
            .collect())
    }
}
