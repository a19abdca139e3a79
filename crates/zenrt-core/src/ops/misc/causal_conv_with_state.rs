//! CausalConvWithState (opset 27): depthwise causal 1-D convolution with a carried state.
//! `input` `[B, C, L]`, `weight` `[C, 1, K]`, optional `bias` `[C]` and `past_state`
//! `[B, C, K - 1]` (zeros when absent). With `x = concat(past_state, input)` along the length,
//! `out[t] = bias + sum_j weight[j] * x[t + j]`, optionally followed by SiLU (`activation` =
//! silu or swish). `present_state` holds the last `K - 1` values of `x`.

use super::common::{check_alloc, from_f64, require_float};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct CausalConvWithState {
    silu: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let silu = match cx.string("activation", "none")?.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        a => bail!("CausalConvWithState: unknown activation '{a}'"),
    };
    Ok(Arc::new(CausalConvWithState { silu }))
}

impl Op for CausalConvWithState {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "CausalConvWithState")?;
        let w = input(inputs, 1, "CausalConvWithState")?;
        let bias = opt_input(inputs, 2).filter(|t| !t.is_empty());
        let past = opt_input(inputs, 3).filter(|t| !t.is_empty());
        require_float(x, "CausalConvWithState")?;
        let [b, c, l] = x.shape() else { bail!("CausalConvWithState: input must be 3-D, got {:?}", x.shape()) };
        let (b, c, l) = (*b, *c, *l);
        let k = match w.shape() {
            [wc, 1, k] if *wc == c && *k >= 1 => *k,
            s => bail!("CausalConvWithState: weight must have shape [{c}, 1, K >= 1], got {s:?}"),
        };
        if let Some(bs) = bias {
            if bs.shape() != [c] {
                bail!("CausalConvWithState: bias must have shape [{c}], got {:?}", bs.shape());
            }
        }
        let state_shape = vec![b, c, k - 1];
        if let Some(p) = past {
            if p.shape() != state_shape.as_slice() {
                bail!("CausalConvWithState: past_state must have shape {state_shape:?}, got {:?}", p.shape());
            }
        }
        check_alloc(x.shape(), "CausalConvWithState output")?;
        let xv = x.to_f64_vec();
        let wv = w.to_f64_vec();
        let bv = bias.map(|t| t.to_f64_vec());
        let pv = past.map(|t| t.to_f64_vec());
        let mut out = Vec::with_capacity(b * c * l);
        let mut present = Vec::with_capacity(b * c * (k - 1));
        let mut seq = Vec::with_capacity(k - 1 + l);
        for bi in 0..b {
            for ci in 0..c {
                seq.clear();
                match &pv {
                    Some(p) => seq.extend_from_slice(&p[(bi * c + ci) * (k - 1)..(bi * c + ci + 1) * (k - 1)]),
                    None => seq.resize(k - 1, 0.0),
                }
                seq.extend_from_slice(&xv[(bi * c + ci) * l..(bi * c + ci + 1) * l]);
                let wk = &wv[ci * k..(ci + 1) * k];
                let b0 = bv.as_ref().map_or(0.0, |v| v[ci]);
                for t in 0..l {
                    let y = b0 + wk.iter().zip(&seq[t..t + k]).map(|(a, b)| a * b).sum::<f64>();
                    out.push(if self.silu { y / (1.0 + (-y).exp()) } else { y });
                }
                present.extend_from_slice(&seq[seq.len() - (k - 1)..]);
            }
        }
        Ok(vec![from_f64(x.shape().to_vec(), out, x.dtype())?, from_f64(state_shape, present, x.dtype())?])
    }
}
