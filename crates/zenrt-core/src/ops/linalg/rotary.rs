//! RotaryEmbedding (opset 23): rotates the first `rotary_embedding_dim` features of every head
//! by position-dependent angles given as cos/sin caches (optionally indexed by `position_ids`),
//! either in halves (`x[..d/2]`, `x[d/2..]`) or interleaved (`x[0::2]`, `x[1::2]`).
//! Input is `[B, H, S, D]` or `[B, S, H·D]` (then `num_heads` is required).

use super::common::{round_to, tensor_from_f64};
use crate::ops::util::same_as_input0;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct RotaryEmbedding {
    pub interleaved: bool,
    pub rotary_dim: usize,
    pub num_heads: usize,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let nonneg = |name: &str| -> Result<usize> {
        let v = cx.int(name, 0)?;
        usize::try_from(v).map_err(|_| Error::Attr { attr: name.into(), msg: format!("must be >= 0, got {v}") })
    };
    Ok(Arc::new(RotaryEmbedding {
        interleaved: cx.int("interleaved", 0)? != 0,
        rotary_dim: nonneg("rotary_embedding_dim")?,
        num_heads: nonneg("num_heads")?,
    }))
}

impl Op for RotaryEmbedding {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "RotaryEmbedding")?;
        let cos = input(inputs, 1, "RotaryEmbedding")?;
        let sin = input(inputs, 2, "RotaryEmbedding")?;
        let pos = opt_input(inputs, 3);
        let t = x.dtype();
        if !t.is_float() {
            return Err(Error::UnsupportedDType { op: "RotaryEmbedding".into(), dtype: t });
        }
        let s = x.shape();
        // (batch, seq, heads, head_size) and the flat offset of (b, s, h, 0).
        let (b, sl, nh, hd, four_d) = match s.len() {
            4 => (s[0], s[2], s[1], s[3], true),
            3 => {
                if self.num_heads == 0 || s[2] % self.num_heads != 0 {
                    bail!("RotaryEmbedding: 3-D input needs num_heads dividing the hidden size {}", s[2]);
                }
                (s[0], s[1], self.num_heads, s[2] / self.num_heads, false)
            }
            r => return Err(Error::Shape(format!("RotaryEmbedding: input must be 3-D or 4-D, got rank {r}"))),
        };
        let offset = |bi: usize, si: usize, hi: usize| {
            if four_d {
                ((bi * nh + hi) * sl + si) * hd
            } else {
                ((bi * sl + si) * nh + hi) * hd
            }
        };
        let rd = if self.rotary_dim == 0 { hd } else { self.rotary_dim };
        if rd > hd || rd % 2 != 0 {
            bail!("RotaryEmbedding: rotary_embedding_dim {rd} must be even and <= head size {hd}");
        }
        let half = rd / 2;
        let (cv, sv) = (cos.to_f64_vec(), sin.to_f64_vec());
        if cos.shape() != sin.shape() || cos.shape().last() != Some(&half) {
            return Err(Error::Shape(format!(
                "RotaryEmbedding: cos/sin caches {:?}/{:?} must end in rotary_dim/2 = {half}",
                cos.shape(),
                sin.shape()
            )));
        }
        // Row of the caches for (b, s).
        let pos_ids = pos.map(|p| p.to_i64_vec());
        let cache_rows = cv.len() / half.max(1);
        let row_of = |bi: usize, si: usize| -> Result<usize> {
            match &pos_ids {
                Some(p) => {
                    let Some(&id) = p.get(bi * sl + si) else {
                        bail!("RotaryEmbedding: position_ids must be [batch, seq]")
                    };
                    if id < 0 || id as usize >= cache_rows {
                        bail!("RotaryEmbedding: position id {id} out of range [0, {cache_rows})");
                    }
                    Ok(id as usize)
                }
                None => {
                    if cos.rank() != 3 || cos.shape()[0] != b || cos.shape()[1] != sl {
                        return Err(Error::Shape(format!("RotaryEmbedding: without position_ids the caches must be [batch, seq, rotary_dim/2], got {:?}", cos.shape())));
                    }
                    Ok(bi * sl + si)
                }
            }
        };
        if let Some(p) = pos {
            if p.len() != b * sl {
                return Err(Error::Shape(format!(
                    "RotaryEmbedding: position_ids {:?} must be [batch, seq]",
                    p.shape()
                )));
            }
        }
        let xv = x.to_f64_vec();
        let mut out = xv.clone();
        let r = |v: f64| round_to(t, v);
        for bi in 0..b {
            for si in 0..sl {
                let row = row_of(bi, si)? * half;
                for hi in 0..nh {
                    let o = offset(bi, si, hi);
                    for i in 0..half {
                        let (i1, i2) =
                            if self.interleaved { (o + 2 * i, o + 2 * i + 1) } else { (o + i, o + half + i) };
                        let (x1, x2) = (xv[i1], xv[i2]);
                        let (c, s) = (cv[row + i], sv[row + i]);
                        out[i1] = r(r(c * x1) - r(s * x2));
                        out[i2] = r(r(s * x1) + r(c * x2));
                    }
                }
            }
        }
        Ok(vec![tensor_from_f64(t, s.to_vec(), out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
