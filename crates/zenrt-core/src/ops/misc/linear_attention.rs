//! LinearAttention (opset 27): recurrent linear attention over packed `[B, T, H * D]` inputs
//! with a per-KV-head state `S` `[d_k, d_v]` (optional `past_state` `[B, H_kv, d_k, d_v]`).
//! Per token, with decay `g` (log-space; per key dim or per head) and update rate `beta`
//! (per KV head or shared):
//! - linear:      S = S + k v^T
//! - gated:       S = exp(g) S + k v^T
//! - delta:       S = S + beta k (v - S^T k)^T
//! - gated_delta: S' = exp(g) S; S = S' + beta k (v - S'^T k)^T
//!
//! and `o = scale * S^T q`, query head `h` reading KV head `h / (H_q / H_kv)`. `scale = 0`
//! means `1 / sqrt(d_k)`. Outputs `[B, T, H_q * d_v]` and the final state. Computed in f64.

use super::common::{check_alloc, from_f64, require_float};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    Linear,
    Gated,
    Delta,
    GatedDelta,
}

#[derive(Debug)]
pub struct LinearAttention {
    hq: usize,
    hkv: usize,
    scale: f64,
    rule: Rule,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let hq = cx.req_int("q_num_heads")?;
    let hkv = cx.req_int("kv_num_heads")?;
    if hq < 1 || hkv < 1 || hq % hkv != 0 {
        bail!("LinearAttention: q_num_heads ({hq}) must be a positive multiple of kv_num_heads ({hkv})");
    }
    let rule = match cx.string("update_rule", "gated_delta")?.as_str() {
        "linear" => Rule::Linear,
        "gated" => Rule::Gated,
        "delta" => Rule::Delta,
        "gated_delta" => Rule::GatedDelta,
        r => bail!("LinearAttention: unknown update_rule '{r}'"),
    };
    Ok(Arc::new(LinearAttention { hq: hq as usize, hkv: hkv as usize, scale: cx.float("scale", 0.0)? as f64, rule }))
}

impl Op for LinearAttention {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let q = input(inputs, 0, "LinearAttention")?;
        let k = input(inputs, 1, "LinearAttention")?;
        let v = input(inputs, 2, "LinearAttention")?;
        let past = opt_input(inputs, 3).filter(|t| !t.is_empty());
        let decay = opt_input(inputs, 4).filter(|t| !t.is_empty());
        let beta = opt_input(inputs, 5).filter(|t| !t.is_empty());
        require_float(q, "LinearAttention")?;
        let (hq, hkv) = (self.hq, self.hkv);
        let [b, t, qd] = q.shape() else { bail!("LinearAttention: query must be 3-D, got {:?}", q.shape()) };
        let (b, t, qd) = (*b, *t, *qd);
        if qd % hq != 0 {
            bail!("LinearAttention: query width {qd} is not a multiple of q_num_heads {hq}");
        }
        let dk = qd / hq;
        if k.shape() != [b, t, hkv * dk] {
            bail!("LinearAttention: key must have shape [{b}, {t}, {}], got {:?}", hkv * dk, k.shape());
        }
        let vs = v.shape();
        if vs.len() != 3 || vs[0] != b || vs[1] != t || vs[2] % hkv != 0 {
            bail!("LinearAttention: value shape {vs:?} does not fit [{b}, {t}, {hkv} * d_v]");
        }
        let dv = vs[2] / hkv;
        let state_shape = vec![b, hkv, dk, dv];
        check_alloc(&state_shape, "LinearAttention state")?;
        let mut s = match past {
            Some(p) if p.shape() == state_shape.as_slice() => p.to_f64_vec(),
            Some(p) => bail!("LinearAttention: past_state must have shape {state_shape:?}, got {:?}", p.shape()),
            None => vec![0.0; b * hkv * dk * dv],
        };
        let gated = matches!(self.rule, Rule::Gated | Rule::GatedDelta);
        let delta = matches!(self.rule, Rule::Delta | Rule::GatedDelta);
        // decay per (b, t, kv head): width dk (per key dim) or 1 (per head)
        let (gv, gw) = match (gated, decay) {
            (false, _) => (vec![], 0),
            (true, None) => bail!("LinearAttention: the '{:?}' rule needs a decay input", self.rule),
            (true, Some(d)) => match d.shape() {
                [db, dt, w] if *db == b && *dt == t && (*w == hkv * dk || *w == hkv) => (d.to_f64_vec(), *w / hkv),
                s => bail!("LinearAttention: decay shape {s:?} must be [{b}, {t}, {}] or [{b}, {t}, {hkv}]", hkv * dk),
            },
        };
        let (bv, bw) = match (delta, beta) {
            (false, _) => (vec![], 0),
            (true, None) => bail!("LinearAttention: the '{:?}' rule needs a beta input", self.rule),
            (true, Some(x)) => match x.shape() {
                [xb, xt, w] if *xb == b && *xt == t && (*w == hkv || *w == 1) => (x.to_f64_vec(), *w),
                s => bail!("LinearAttention: beta shape {s:?} must be [{b}, {t}, {hkv}] or [{b}, {t}, 1]"),
            },
        };
        let scale = if self.scale == 0.0 { 1.0 / (dk as f64).sqrt() } else { self.scale };
        let (qv, kv, vv) = (q.to_f64_vec(), k.to_f64_vec(), v.to_f64_vec());
        let out_shape = vec![b, t, hq * dv];
        check_alloc(&out_shape, "LinearAttention output")?;
        let mut out = vec![0.0; b * t * hq * dv];
        let group = hq / hkv;
        let mut retrieved = vec![0.0; dv];
        for bi in 0..b {
            for ti in 0..t {
                let bt = bi * t + ti;
                for h in 0..hkv {
                    let st = &mut s[(bi * hkv + h) * dk * dv..(bi * hkv + h + 1) * dk * dv];
                    let kt = &kv[(bt * hkv + h) * dk..(bt * hkv + h + 1) * dk];
                    let vt = &vv[(bt * hkv + h) * dv..(bt * hkv + h + 1) * dv];
                    if gated {
                        for i in 0..dk {
                            let g = gv[(bt * hkv + h) * gw + if gw == 1 { 0 } else { i }].exp();
                            st[i * dv..(i + 1) * dv].iter_mut().for_each(|x| *x *= g);
                        }
                    }
                    if delta {
                        let be = bv[bt * bw + if bw == 1 { 0 } else { h }];
                        retrieved.iter_mut().for_each(|r| *r = 0.0);
                        for i in 0..dk {
                            for j in 0..dv {
                                retrieved[j] += st[i * dv + j] * kt[i];
                            }
                        }
                        for i in 0..dk {
                            for j in 0..dv {
                                st[i * dv + j] += kt[i] * be * (vt[j] - retrieved[j]);
                            }
                        }
                    } else {
                        for i in 0..dk {
                            for j in 0..dv {
                                st[i * dv + j] += kt[i] * vt[j];
                            }
                        }
                    }
                    for hq_i in h * group..(h + 1) * group {
                        let qt = &qv[(bt * hq + hq_i) * dk..(bt * hq + hq_i + 1) * dk];
                        let o = &mut out[(bt * hq + hq_i) * dv..(bt * hq + hq_i + 1) * dv];
                        for i in 0..dk {
                            for j in 0..dv {
                                o[j] += qt[i] * st[i * dv + j];
                            }
                        }
                        o.iter_mut().for_each(|x| *x *= scale);
                    }
                }
            }
        }
        Ok(vec![from_f64(out_shape, out, q.dtype())?, from_f64(state_shape, s, q.dtype())?])
    }
}
