//! Scan: iterates a body over slices of scan inputs while threading state values.
//!
//! Opset 9+: inputs are (states..., scan inputs...); `scan_input_axes`/`scan_input_directions`
//! choose the axis each scan input is sliced along and its direction; each scan output is
//! stacked along `scan_output_axes` (reversed when its direction is 1).
//! Opset 8: inputs are (sequence_lens?, states..., scan inputs...), all with a leading batch
//! axis; scan inputs are sliced along axis 1 up to each batch entry's length (`directions`);
//! scan outputs are `[batch, seq, ...]`, zero past each entry's length.

use super::common::{empty_stack, slice_axis, stack};
use crate::ops::util::norm_axis;
use crate::ops::{BuildCtx, ExecCtx, Op};
use crate::{ensure, Error, Graph, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct Scan {
    body: Arc<Graph>,
    num_scan_inputs: usize,
    /// Opset 8 form (batch axis + sequence_lens).
    v8: bool,
    input_axes: Vec<i64>,
    input_dirs: Vec<i64>,
    output_axes: Vec<i64>,
    output_dirs: Vec<i64>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let m = cx.req_int("num_scan_inputs")?;
    if m <= 0 {
        return Err(Error::Attr { attr: "num_scan_inputs".into(), msg: format!("must be positive, got {m}") });
    }
    let v8 = cx.opset < 9;
    let input_dirs =
        if v8 { cx.ints_opt("directions")? } else { cx.ints_opt("scan_input_directions")? }.unwrap_or_default();
    let op = Scan {
        body: cx.graph("body")?,
        num_scan_inputs: m as usize,
        v8,
        input_axes: cx.ints_opt("scan_input_axes")?.unwrap_or_default(),
        input_dirs,
        output_axes: cx.ints_opt("scan_output_axes")?.unwrap_or_default(),
        output_dirs: cx.ints_opt("scan_output_directions")?.unwrap_or_default(),
    };
    for (name, v) in [("scan_input_directions", &op.input_dirs), ("scan_output_directions", &op.output_dirs)] {
        if v.iter().any(|&d| d != 0 && d != 1) {
            return Err(Error::Attr { attr: name.into(), msg: format!("directions must be 0 or 1, got {v:?}") });
        }
    }
    if op.input_dirs.len() > op.num_scan_inputs || op.input_axes.len() > op.num_scan_inputs {
        return Err(Error::Attr { attr: "scan_input_axes".into(), msg: "more entries than scan inputs".into() });
    }
    Ok(Arc::new(op))
}

/// Per-iteration body runs over `len` steps: returns the final states and, per scan output,
/// the per-iteration values in iteration order.
struct Run {
    states: Vec<Tensor>,
    scans: Vec<Vec<Tensor>>,
}

impl Scan {
    /// Runs the body `len` times; `slice(j, it)` gives scan input j's slice for iteration `it`.
    fn iterate(
        &self,
        ctx: &dyn ExecCtx,
        mut states: Vec<Tensor>,
        len: usize,
        slice: impl Fn(usize, usize) -> Result<Tensor>,
    ) -> Result<Run> {
        let n = states.len();
        let n_out = self.body.outputs.len();
        ensure!(n_out >= n, "Scan: body has {n_out} outputs, expected at least {n}");
        let k = n_out - n;
        let mut scans: Vec<Vec<Tensor>> = vec![Vec::with_capacity(len); k];
        for it in 0..len {
            let mut args = Vec::with_capacity(n + self.num_scan_inputs);
            args.append(&mut states);
            for j in 0..self.num_scan_inputs {
                let rev = self.input_dirs.get(j).copied().unwrap_or(0) == 1;
                args.push(slice(j, if rev { len - 1 - it } else { it })?);
            }
            let mut outs = ctx.run_subgraph(&self.body, args)?;
            ensure!(outs.len() == n_out, "Scan: body returned {} outputs, expected {n_out}", outs.len());
            let so = outs.split_off(n);
            states = outs;
            for (acc, t) in scans.iter_mut().zip(so) {
                acc.push(t);
            }
        }
        Ok(Run { states, scans })
    }

    fn split_inputs<'a>(&self, inputs: &[Option<&'a Tensor>]) -> Result<(Vec<&'a Tensor>, Vec<&'a Tensor>)> {
        let m = self.num_scan_inputs;
        ensure!(inputs.len() >= m, "Scan: {} inputs, but num_scan_inputs is {m}", inputs.len());
        let all: Vec<&Tensor> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.ok_or_else(|| {
                    Error::Unsupported(format!("Scan: input #{i} is absent (optional-typed values are not supported)"))
                })
            })
            .collect::<Result<_>>()?;
        let n = all.len() - m;
        let body_inputs = self.body.real_inputs().count();
        ensure!(body_inputs == n + m, "Scan: body takes {body_inputs} inputs, expected {}", n + m);
        Ok((all[..n].to_vec(), all[n..].to_vec()))
    }

    fn run9(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (states, scan_in) = self.split_inputs(inputs)?;
        let axes: Vec<usize> = scan_in
            .iter()
            .enumerate()
            .map(|(j, t)| {
                ensure!(t.rank() >= 1, "Scan: scan input #{j} must have rank >= 1");
                norm_axis(self.input_axes.get(j).copied().unwrap_or(0), t.rank())
            })
            .collect::<Result<_>>()?;
        let len = scan_in[0].shape()[axes[0]];
        for (j, t) in scan_in.iter().enumerate() {
            ensure!(
                t.shape()[axes[j]] == len,
                "Scan: scan inputs have different lengths ({} and {len})",
                t.shape()[axes[j]]
            );
        }
        let run =
            self.iterate(ctx, states.into_iter().cloned().collect(), len, |j, it| slice_axis(scan_in[j], axes[j], it))?;
        let n = run.states.len();
        let mut out = run.states;
        for (k, mut acc) in run.scans.into_iter().enumerate() {
            let axis = self.output_axes.get(k).copied().unwrap_or(0);
            if acc.is_empty() {
                out.push(empty_stack(&self.body.outputs[n + k], axis, "Scan output")?);
                continue;
            }
            if self.output_dirs.get(k).copied().unwrap_or(0) == 1 {
                acc.reverse();
            }
            let a = norm_axis(axis, acc[0].rank() + 1)?;
            out.push(stack(&acc, a, "Scan output")?);
        }
        Ok(out)
    }

    fn run8(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let lens_t = inputs.first().copied().flatten();
        let rest = inputs.get(1..).unwrap_or(&[]);
        let (states, scan_in) = self.split_inputs(rest)?;
        for t in states.iter().chain(&scan_in) {
            ensure!(t.rank() >= 1, "Scan: inputs need a batch axis, got shape {:?}", t.shape());
        }
        for t in &scan_in {
            ensure!(t.rank() >= 2, "Scan: scan inputs need batch and sequence axes, got shape {:?}", t.shape());
        }
        let batch = scan_in[0].shape()[0];
        let seq = scan_in[0].shape()[1];
        for t in states.iter().chain(&scan_in) {
            ensure!(t.shape()[0] == batch, "Scan: inputs have different batch sizes ({} and {batch})", t.shape()[0]);
        }
        for t in &scan_in {
            ensure!(
                t.shape()[1] == seq,
                "Scan: scan inputs have different sequence lengths ({} and {seq})",
                t.shape()[1]
            );
        }
        let lens: Vec<usize> = match lens_t {
            None => vec![seq; batch],
            Some(l) => {
                ensure!(
                    l.dtype().is_int() && l.len() == batch,
                    "Scan: sequence_lens must be {batch} integers, got {}{:?}",
                    l.dtype(),
                    l.shape()
                );
                l.to_i64_vec()
                    .into_iter()
                    .map(|v| {
                        ensure!(
                            v >= 0 && v as u64 <= seq as u64,
                            "Scan: sequence_lens value {v} is outside [0, {seq}]"
                        );
                        Ok(v as usize)
                    })
                    .collect::<Result<_>>()?
            }
        };
        let n = states.len();
        let k = self.body.outputs.len().saturating_sub(n);
        let mut final_states: Vec<Vec<Tensor>> = vec![Vec::with_capacity(batch); n];
        let mut scan_out: Vec<Vec<Vec<Tensor>>> = vec![Vec::with_capacity(batch); k];
        for (b, &len) in lens.iter().enumerate() {
            let st: Vec<Tensor> = states.iter().map(|t| slice_axis(t, 0, b)).collect::<Result<_>>()?;
            let sl: Vec<Tensor> = scan_in.iter().map(|t| slice_axis(t, 0, b)).collect::<Result<_>>()?;
            let run = self.iterate(ctx, st, len, |j, it| slice_axis(&sl[j], 0, it))?;
            for (acc, t) in final_states.iter_mut().zip(run.states) {
                acc.push(t);
            }
            for (acc, v) in scan_out.iter_mut().zip(run.scans) {
                acc.push(v);
            }
        }
        let mut out = Vec::with_capacity(n + k);
        for (i, acc) in final_states.iter().enumerate() {
            out.push(if batch == 0 {
                states[i].clone() /* empty batch: the initial state */
            } else {
                stack(acc, 0, "Scan state")?
            });
        }
        for (j, per_batch) in scan_out.into_iter().enumerate() {
            // Per-iteration shape from any iteration that ran; entries shorter than `seq` are zero padded.
            let proto = per_batch.iter().flatten().next().map(|t| (t.dtype(), t.shape().to_vec()));
            let Some((dt, shape)) = proto else {
                let mut t = empty_stack(&self.body.outputs[n + j], 0, "Scan output")?;
                // [0, ...] → [batch, seq, ...] is only possible when empty either way.
                let mut s = t.shape().to_vec();
                s[0] = seq;
                s.insert(0, batch);
                t = Tensor::zeros(t.dtype(), s)?;
                out.push(t);
                continue;
            };
            let mut rows = Vec::with_capacity(batch);
            for mut v in per_batch {
                while v.len() < seq {
                    v.push(Tensor::zeros(dt, shape.clone())?);
                }
                rows.push(stack(&v, 0, "Scan output")?);
            }
            out.push(stack(&rows, 0, "Scan output")?);
        }
        Ok(out)
    }
}

impl Op for Scan {
    fn run(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        if self.v8 {
            self.run8(ctx, inputs)
        } else {
            self.run9(ctx, inputs)
        }
    }
}
