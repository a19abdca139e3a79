//! LinearAttention (opset 27): recurrent linear attention over packed `[B, T, H·D]` inputs with
//! a `[B, H_kv, d_k, d_v]` state, update rules `linear`, `gated`, `delta`, `gated_delta`, and
//! grouped query heads. Computed token by token in f64 (the reference uses float32).

use super::common::tensor_from_f64;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct LinearAttention {
    pub q_heads: usize,
    pub kv_heads: usize,
    pub scale: f32,
    pub gating: bool,
    pub delta: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let rule = cx.string("update_rule", "gated_delta")?;
    let (gating, delta) = match rule.as_str() {
        "linear" => (false, false),
        "gated" => (true, false),
        "delta" => (false, true),
        "gated_delta" => (true, true),
        r => return Err(Error::Attr { attr: "update_rule".into(), msg: format!("unknown rule '{r}'") }),
    };
    let q = cx.req_int("q_num_heads")?;
    let kv = cx.req_int("kv_num_heads")?;
    if q <= 0 || kv <= 0 || q % kv != 0 {
        return Err(Error::Attr {
            attr: "q_num_heads".into(),
            msg: format!("{q} must be a positive multiple of kv_num_heads {kv}"),
        });
    }
    Ok(Arc::new(LinearAttention {
        q_heads: q as usize,
        kv_heads: kv as usize,
        scale: cx.float("scale", 0.0)?,
        gating,
        delta,
    }))
}

impl Op for LinearAttention {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let q = input(inputs, 0, "LinearAttention")?;
        let k = input(inputs, 1, "LinearAttention")?;
        let v = input(inputs, 2, "LinearAttention")?;
        let past = opt_input(inputs, 3);
        let decay = opt_input(inputs, 4);
        let beta = opt_input(inputs, 5);
        let dt = q.dtype();
        if !dt.is_float() {
            return Err(Error::UnsupportedDType { op: "LinearAttention".into(), dtype: dt });
        }
        if q.rank() != 3 || k.rank() != 3 || v.rank() != 3 {
            bail!("LinearAttention: query, key and value must be 3-D");
        }
        if self.gating != decay.is_some() || self.delta != beta.is_some() {
            bail!("LinearAttention: decay/beta inputs do not match the update rule");
        }
        let (hq, hk) = (self.q_heads, self.kv_heads);
        let (b, t) = (q.shape()[0], q.shape()[1]);
        if q.shape()[2] % hq != 0 || v.shape()[2] % hk != 0 {
            bail!("LinearAttention: hidden sizes not divisible by the head counts");
        }
        let (dk, dv) = (q.shape()[2] / hq, v.shape()[2] / hk);
        if k.shape() != [b, t, hk * dk] || v.shape()[..2] != [b, t] {
            return Err(Error::Shape(format!(
                "LinearAttention: key {:?} / value {:?} do not match query {:?}",
                k.shape(),
                v.shape(),
                q.shape()
            )));
        }
        let group = hq / hk;
        let (qv, kv, vv) = (q.to_f64_vec(), k.to_f64_vec(), v.to_f64_vec());
        // decay: per head ([B,T,Hkv]) or per key dim ([B,T,Hkv*dk]).
        let dec = decay.map(|d| d.to_f64_vec());
        let dec_w = match decay {
            Some(d) if d.rank() == 3 && d.shape()[..2] == [b, t] && (d.shape()[2] == hk || d.shape()[2] == hk * dk) => {
                d.shape()[2]
            }
            Some(d) => return Err(Error::Shape(format!("LinearAttention: bad decay shape {:?}", d.shape()))),
            None => 0,
        };
        let bet = beta.map(|x| x.to_f64_vec());
        let bet_w = match beta {
            Some(x) if x.rank() == 3 && x.shape()[..2] == [b, t] && (x.shape()[2] == hk || x.shape()[2] == 1) => {
                x.shape()[2]
            }
            Some(x) => return Err(Error::Shape(format!("LinearAttention: bad beta shape {:?}", x.shape()))),
            None => 0,
        };
        let mut state = match past {
            Some(p) => {
                if p.shape() != [b, hk, dk, dv] {
                    return Err(Error::Shape(format!(
                        "LinearAttention: past_state {:?} must be [{b}, {hk}, {dk}, {dv}]",
                        p.shape()
                    )));
                }
                p.to_f64_vec()
            }
            None => vec![0.0; b * hk * dk * dv],
        };
        let state_dt = past.map(|p| p.dtype()).unwrap_or(dt);
        let scale = if self.scale == 0.0 { 1.0 / (dk as f64).sqrt() } else { self.scale as f64 };
        let mut out = vec![0.0; b * t * hq * dv];
        let mut vt = vec![0.0; dv];
        for bi in 0..b {
            for ti in 0..t {
                for h in 0..hk {
                    let s = &mut state[(bi * hk + h) * dk * dv..][..dk * dv];
                    if let Some(d) = &dec {
                        for i in 0..dk {
                            let g = if dec_w == hk {
                                d[(bi * t + ti) * hk + h]
                            } else {
                                d[(bi * t + ti) * hk * dk + h * dk + i]
                            };
                            let e = g.exp();
                            s[i * dv..(i + 1) * dv].iter_mut().for_each(|x| *x *= e);
                        }
                    }
                    let kt = &kv[(bi * t + ti) * hk * dk + h * dk..][..dk];
                    vt.copy_from_slice(&vv[(bi * t + ti) * hk * dv + h * dv..][..dv]);
                    if let Some(be) = &bet {
                        let bval = be[(bi * t + ti) * bet_w + if bet_w == 1 { 0 } else { h }];
                        for (m, x) in vt.iter_mut().enumerate() {
                            let retrieved: f64 = (0..dk).map(|d| s[d * dv + m] * kt[d]).sum();
                            *x = bval * (*x - retrieved);
                        }
                    }
                    for d in 0..dk {
                        for m in 0..dv {
                            s[d * dv + m] += kt[d] * vt[m];
                        }
                    }
                    for g in 0..group {
                        let qh = h * group + g;
                        let qt = &qv[(bi * t + ti) * hq * dk + qh * dk..][..dk];
                        let o = &mut out[(bi * t + ti) * hq * dv + qh * dv..][..dv];
                        for (m, x) in o.iter_mut().enumerate() {
                            *x = scale * (0..dk).map(|d| qt[d] * s[d * dv + m]).sum::<f64>();
                        }
                    }
                }
            }
        }
        Ok(vec![tensor_from_f64(dt, vec![b, t, hq * dv], out)?, tensor_from_f64(state_dt, vec![b, hk, dk, dv], state)?])
    }
}
