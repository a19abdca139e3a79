//! LSTM and GRU: one cuBLAS GEMM projects every time step's input at once, then each step is a
//! GEMM with the recurrent weights and one gate kernel. Supported: layout 0, default
//! activations, no clip, no peepholes, forward/reverse/bidirectional.

use super::linalg::bias_act;
use super::{arg, need_f32, Act, Attrs, BResult, Cx, GpuOp, Val};
use crate::gpu::GTensor;
use zenrt_core::{Attr, DType, Error, Result};

struct Common {
    hidden: usize,
    dirs: usize,
    reverse: bool,
}

fn parse(a: &Attrs, defaults: &[&str]) -> std::result::Result<Common, String> {
    if a.int("layout", 0)? != 0 {
        return Err("layout=1 has no CUDA kernel".into());
    }
    if a.0.attrs.contains_key("clip") {
        return Err("clip has no CUDA kernel".into());
    }
    if let Some(Attr::Strings(acts)) = a.0.attrs.get("activations") {
        for (i, s) in acts.iter().enumerate() {
            let want = defaults[i % defaults.len()];
            if !String::from_utf8_lossy(s).eq_ignore_ascii_case(want) {
                return Err(format!(
                    "non-default activations {:?}",
                    acts.iter().map(|s| String::from_utf8_lossy(s)).collect::<Vec<_>>()
                ));
            }
        }
    }
    let dir = a.string("direction")?.unwrap_or_else(|| "forward".into());
    let (dirs, reverse) = match dir.as_str() {
        "forward" => (1, false),
        "reverse" => (1, true),
        "bidirectional" => (2, false),
        d => return Err(format!("unknown direction {d}")),
    };
    let hidden = a.int("hidden_size", 0)?;
    if hidden <= 0 {
        return Err("hidden_size is required".into());
    }
    Ok(Common { hidden: hidden as usize, dirs, reverse })
}

pub(super) fn build_lstm(a: &Attrs) -> BResult {
    let c = parse(a, &["Sigmoid", "Tanh", "Tanh"])?;
    if a.int("input_forget", 0)? != 0 {
        return Err("input_forget has no CUDA kernel".into());
    }
    if a.has_input(7) {
        return Err("peepholes (input P) have no CUDA kernel".into());
    }
    Ok(Box::new(Rnn { c, lstm: true, lbr: true }))
}

pub(super) fn build_gru(a: &Attrs) -> BResult {
    let c = parse(a, &["Sigmoid", "Tanh"])?;
    Ok(Box::new(Rnn { c, lstm: false, lbr: a.int("linear_before_reset", 0)? != 0 }))
}

struct Rnn {
    c: Common,
    lstm: bool,
    lbr: bool,
}

impl GpuOp for Rnn {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let op = if self.lstm { "LSTM" } else { "GRU" };
        let (x, w, r) = (arg(ins, 0, op)?, arg(ins, 1, op)?, arg(ins, 2, op)?);
        for v in [x, w, r] {
            need_f32(v, op)?;
        }
        let g = if self.lstm { 4 } else { 3 };
        let hs = self.c.hidden;
        let dirs = self.c.dirs;
        let xs = x.shape().to_vec();
        if xs.len() != 3 {
            return Err(Error::Shape(format!("{op}: X must be [seq, batch, input], got {xs:?}")));
        }
        let (seq, batch, inp) = (xs[0], xs[1], xs[2]);
        if w.shape() != [dirs, g * hs, inp] || r.shape() != [dirs, g * hs, hs] {
            return Err(Error::Shape(format!("{op}: W {:?} / R {:?} do not match", w.shape(), r.shape())));
        }
        if let Some(sl) = ins.get(4).copied().flatten() {
            let v = cx.host(sl)?.to_i64_vec();
            if v.iter().any(|&l| l != seq as i64) {
                return Err(Error::Unsupported(format!("CUDA {op}: sequence_lens shorter than the sequence")));
            }
        }
        let (gx, gw, gr) = (cx.dev(x)?, cx.dev(w)?, cx.dev(r)?);
        let gb = match ins.get(3).copied().flatten() {
            Some(b) => {
                need_f32(b, op)?;
                if b.shape() != [dirs, 2 * g * hs] {
                    return Err(Error::Shape(format!("{op}: B {:?}", b.shape())));
                }
                Some(cx.dev(b)?)
            }
            None => None,
        };
        let init = |i: usize| -> Result<Option<GTensor>> {
            match ins.get(i).copied().flatten() {
                Some(v) => {
                    need_f32(v, op)?;
                    if v.shape() != [dirs, batch, hs] {
                        return Err(Error::Shape(format!("{op}: initial state {:?}", v.shape())));
                    }
                    Ok(Some(cx.dev(v)?))
                }
                None => Ok(None),
            }
        };
        let (h0, c0) = (init(5)?, if self.lstm { init(6)? } else { None });
        let gpu = cx.gpu;
        let fb = gpu.esize(DType::F32);
        let fs = fb as u64;
        let y = gpu.empty(DType::F32, vec![seq, dirs, batch, hs])?;
        let yh = gpu.empty(DType::F32, vec![dirs, batch, hs])?;
        let yc = if self.lstm { Some(gpu.empty(DType::F32, vec![dirs, batch, hs])?) } else { None };
        let xw = gpu.empty(DType::F32, vec![seq * batch, g * hs])?;
        let hr = gpu.empty(DType::F32, vec![batch, g * hs])?;
        let h = gpu.empty(DType::F32, vec![batch, hs])?;
        let c = gpu.empty(DType::F32, vec![batch, hs])?;
        let tmp = gpu.empty(DType::F32, vec![batch, hs])?;
        let tmp2 = gpu.empty(DType::F32, vec![batch, hs])?;
        let bsum = gpu.empty(DType::F32, vec![g * hs])?;
        let st = (batch * hs) as u64 * fs;
        for d in 0..dirs {
            let wd = gw.ptr() + (d * g * hs * inp) as u64 * fs;
            let rd = gr.ptr() + (d * g * hs * hs) as u64 * fs;
            gpu.sgemm(false, true, seq * batch, g * hs, inp, 1.0, gx.ptr(), inp, 0, wd, inp, 0, 0.0, xw.ptr(), 0, 1)?;
            let mut rb: u64 = 0;
            if let Some(b) = &gb {
                let bw = b.ptr() + (d * 2 * g * hs) as u64 * fs;
                let br = bw + (g * hs) as u64 * fs;
                if self.lstm {
                    // both biases fold into the projection
                    let n = g * hs;
                    let (op0, a0, b0) = (0i32, 0f32, 0f32);
                    gpu.launch_n("binary_same_f32", n, &[&(n as i64), &op0, &bw, &br, &op0, &a0, &b0, &bsum.ptr()])?;
                    bias_act(gpu, &xw, Some(&bsum), 1, g * hs, Act::NONE)?;
                } else {
                    gpu.copy_d2d(bsum.ptr(), bw, g * hs * fb)?;
                    bias_act(gpu, &xw, Some(&bsum), 1, g * hs, Act::NONE)?;
                    rb = br;
                }
            }
            let nstate = batch * hs;
            match &h0 {
                Some(h0) => gpu.copy_d2d(h.ptr(), h0.ptr() + d as u64 * st, nstate * fb)?,
                None => gpu.launch_n("fill_f32", nstate, &[&(nstate as i64), &0f32, &h.ptr()])?,
            }
            if self.lstm {
                match &c0 {
                    Some(c0) => gpu.copy_d2d(c.ptr(), c0.ptr() + d as u64 * st, nstate * fb)?,
                    None => gpu.launch_n("fill_f32", nstate, &[&(nstate as i64), &0f32, &c.ptr()])?,
                }
            }
            let backward = self.c.reverse || d == 1;
            for step in 0..seq {
                let t = if backward { seq - 1 - step } else { step };
                let xt = xw.ptr() + (t * batch * g * hs) as u64 * fs;
                let yt = y.ptr() + ((t * dirs + d) * batch * hs) as u64 * fs;
                gpu.sgemm(false, true, batch, g * hs, hs, 1.0, h.ptr(), hs, 0, rd, hs, 0, 0.0, hr.ptr(), 0, 1)?;
                if self.lstm {
                    gpu.launch_n(
                        "lstm_gates_f32",
                        nstate,
                        &[&(batch as i64), &(hs as i64), &xt, &hr.ptr(), &c.ptr(), &h.ptr(), &yt],
                    )?;
                } else {
                    let mut h2 = 0u64;
                    if !self.lbr {
                        gpu.launch_n(
                            "gru_rh_f32",
                            nstate,
                            &[&(batch as i64), &(hs as i64), &xt, &hr.ptr(), &rb, &h.ptr(), &tmp.ptr()],
                        )?;
                        let rh = rd + (2 * hs * hs) as u64 * fs;
                        gpu.sgemm(false, true, batch, hs, hs, 1.0, tmp.ptr(), hs, 0, rh, hs, 0, 0.0, tmp2.ptr(), 0, 1)?;
                        h2 = tmp2.ptr();
                    }
                    let lbr = self.lbr as i32;
                    gpu.launch_n(
                        "gru_gates_f32",
                        nstate,
                        &[&(batch as i64), &(hs as i64), &lbr, &xt, &hr.ptr(), &rb, &h2, &h.ptr(), &yt],
                    )?;
                }
            }
            gpu.copy_d2d(yh.ptr() + d as u64 * st, h.ptr(), nstate * fb)?;
            if let Some(yc) = &yc {
                gpu.copy_d2d(yc.ptr() + d as u64 * st, c.ptr(), nstate * fb)?;
            }
        }
        let mut outs = vec![Val::Dev(y), Val::Dev(yh)];
        if let Some(yc) = yc {
            outs.push(Val::Dev(yc));
        }
        Ok(outs)
    }
}
