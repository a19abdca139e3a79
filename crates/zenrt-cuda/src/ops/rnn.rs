//! LSTM and GRU. One cuBLAS GEMM projects every time step's input for both directions at once;
//! then, by default, one kernel runs the whole recurrence (`rnn_seq_f32`: a block per batch-row
//! group and direction keeps h and c in shared memory, computes h·Rᵀ and the gate math each step,
//! no launch per step). It implements all of ONNX: clip, activations, peepholes, input_forget,
//! linear_before_reset, sequence_lens, layout 1. With default attributes, a large hidden size (R
//! no longer fits the SM's cache, so every block re-reading it each step costs more than a GEMM)
//! or one direction of a small batch (measured faster) runs each step as one cuBLAS GEMM plus
//! one gate kernel instead. `ZENRT_CUDA_RNN=steps|fused`
//! forces one path (`steps` only where its restrictions hold); `ZENRT_CUDA_RNN_SLICES=1..4` sets
//! the threads per gate column of the fused kernel (ablation).

use super::linalg::bias_act;
use super::{arg, need_f32, Act, Attrs, BResult, Cx, GpuOp, Val};
use crate::gpu::{GTensor, Gpu};
use zenrt_core::ops::rnn::common::{Act as RAct, RnnAttrs};
use zenrt_core::ops::BuildCtx;
use zenrt_core::{DType, Error, Result};

/// Rows of the batch one block of `rnn_seq_f32` handles at most (`RNN_ROWS` in kernels.cu).
const RNN_ROWS: usize = 8;
/// Slices of the k range per gate column (`RNN_SLICES` in kernels.cu).
const RNN_SLICES: usize = 4;
/// Hidden sizes up to this run the fused kernel by default.
const FUSED_MAX_HIDDEN: usize = 128;
/// One direction with fewer batch rows than this runs per step by default: measured on an H100
/// (lstm model, H=64, 16 steps, graph replay), the fused kernel took 0.213 ms at batch 1 against
/// 0.184 per step, and 0.255 against 0.269 at batch 32 (bidirectional GRU: fused faster at both).
const STEPS_MAX_BATCH: usize = 16;
/// Dynamic shared memory the fused kernel may use per block.
const SMEM_LIMIT: usize = 48 * 1024;

pub(super) fn build_lstm(a: &Attrs) -> BResult {
    build(a, true)
}

pub(super) fn build_gru(a: &Attrs) -> BResult {
    build(a, false)
}

fn build(a: &Attrs, lstm: bool) -> BResult {
    let n = a.0;
    let cx = BuildCtx {
        node_name: &n.name,
        op_type: &n.op_type,
        attrs: &n.attrs,
        opset: 0,
        n_inputs: n.inputs.len(),
        n_outputs: n.outputs.len(),
    };
    let defaults: &[&str] = if lstm { &["Sigmoid", "Tanh", "Tanh"] } else { &["Sigmoid", "Tanh"] };
    let attrs = RnnAttrs::parse(&cx, defaults).map_err(|e| e.to_string())?;
    let input_forget = lstm && a.int("input_forget", 0)? != 0;
    let lbr = !lstm && a.int("linear_before_reset", 0)? != 0;
    let mut acts = [[(0i32, 0f32, 0f32); 3]; 2];
    for (d, set) in attrs.acts.iter().enumerate().take(2) {
        for (k, &f) in set.iter().enumerate().take(3) {
            acts[d][k] = act_code(f);
        }
    }
    let plain = attrs.layout == 0
        && attrs.clip.is_none()
        && !input_forget
        && !a.has_input(7)
        && attrs.acts.iter().all(|set| set.iter().zip(defaults).all(|(f, name)| *f == default_act(name)));
    let mode = std::env::var("ZENRT_CUDA_RNN").unwrap_or_default();
    let slices = std::env::var("ZENRT_CUDA_RNN_SLICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|s| (1..=RNN_SLICES).contains(s))
        .unwrap_or(RNN_SLICES);
    Ok(Box::new(Rnn { attrs, lstm, lbr, input_forget, acts, plain, mode, slices }))
}

fn default_act(name: &str) -> RAct {
    if name == "Sigmoid" {
        RAct::Sigmoid
    } else {
        RAct::Tanh
    }
}

/// The `act()` code of kernels.cu for a cell activation, with its parameters.
fn act_code(f: RAct) -> (i32, f32, f32) {
    match f {
        RAct::Sigmoid => (4, 0.0, 0.0),
        RAct::Tanh => (7, 0.0, 0.0),
        RAct::Relu => (1, 0.0, 0.0),
        RAct::HardSigmoid(a, b) => (5, a as f32, b as f32),
        RAct::Affine(a, b) => (35, a as f32, b as f32),
        RAct::LeakyRelu(a) => (2, a as f32, 0.0),
        RAct::ThresholdedRelu(a) => (36, a as f32, 0.0),
        RAct::ScaledTanh(a, b) => (37, a as f32, b as f32),
        RAct::Elu(a) => (31, a as f32, 0.0),
        RAct::Softsign => (38, 0.0, 0.0),
        RAct::Softplus => (32, 0.0, 0.0),
    }
}

struct Rnn {
    attrs: RnnAttrs,
    lstm: bool,
    lbr: bool,
    input_forget: bool,
    /// (code, alpha, beta) of f, g, h per direction.
    acts: [[(i32, f32, f32); 3]; 2],
    /// Default activations, no clip/peepholes/input_forget, layout 0: the per-step path can run it.
    plain: bool,
    /// `ZENRT_CUDA_RNN` at build time.
    mode: String,
    /// Threads per gate column in the fused kernel (`ZENRT_CUDA_RNN_SLICES`, 1..=4, default 4).
    slices: usize,
}

/// Mirror of `struct RnnSeq` in kernels.cu (field order and types must match).
#[repr(C)]
#[derive(Clone, Copy)]
struct RnnSeq {
    seq: i64,
    batch: i64,
    hs: i64,
    rows: i64,
    dirs: i64,
    layout: i64,
    lstm: i32,
    lbr: i32,
    input_forget: i32,
    reverse: i32,
    has_clip: i32,
    lens_i64: i32,
    clip: f32,
    act: [[i32; 3]; 2],
    aa: [[f32; 3]; 2],
    ab: [[f32; 3]; 2],
    xw: u64,
    rt: u64,
    bias: u64,
    peep: u64,
    h0: u64,
    c0: u64,
    lens: u64,
    y: u64,
    yh: u64,
    yc: u64,
    bad: u64,
}

/// The operands of one run, checked.
struct Operands {
    seq: usize,
    batch: usize,
    inp: usize,
    hs: usize,
    dirs: usize,
    x: GTensor,
    w: GTensor,
    r: GTensor,
    b: Option<GTensor>,
    h0: Option<GTensor>,
    c0: Option<GTensor>,
    p: Option<GTensor>,
    lens: Option<Val>,
}

impl Rnn {
    fn op(&self) -> &'static str {
        if self.lstm {
            "LSTM"
        } else {
            "GRU"
        }
    }

    fn gates(&self) -> usize {
        if self.lstm {
            4
        } else {
            3
        }
    }

    fn operands(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Operands> {
        let op = self.op();
        let (x, w, r) = (arg(ins, 0, op)?, arg(ins, 1, op)?, arg(ins, 2, op)?);
        for v in [x, w, r] {
            need_f32(v, op)?;
        }
        let g = self.gates();
        let dirs = self.attrs.direction.num();
        let xs = x.shape().to_vec();
        if xs.len() != 3 || r.shape().len() != 3 {
            return Err(Error::Shape(format!("{op}: X {xs:?} / R {:?} must be 3-D", r.shape())));
        }
        let hs = r.shape()[2];
        if self.attrs.hidden_size.is_some_and(|h| h != hs) {
            return Err(Error::Shape(format!("{op}: R {:?} does not match hidden_size", r.shape())));
        }
        let (seq, batch, inp) = if self.attrs.layout == 0 { (xs[0], xs[1], xs[2]) } else { (xs[1], xs[0], xs[2]) };
        if w.shape() != [dirs, g * hs, inp] || r.shape() != [dirs, g * hs, hs] {
            return Err(Error::Shape(format!("{op}: W {:?} / R {:?} do not match", w.shape(), r.shape())));
        }
        let opt = |i: usize, shape: &[usize], what: &str| -> Result<Option<GTensor>> {
            match ins.get(i).copied().flatten() {
                Some(v) => {
                    need_f32(v, op)?;
                    if v.shape() != shape {
                        return Err(Error::Shape(format!("{op}: {what} {:?}, expected {shape:?}", v.shape())));
                    }
                    Ok(Some(cx.dev(v)?))
                }
                None => Ok(None),
            }
        };
        let state = if self.attrs.layout == 0 { [dirs, batch, hs] } else { [batch, dirs, hs] };
        let lens = match ins.get(4).copied().flatten() {
            Some(l) => {
                if !matches!(l.dtype(), DType::I32 | DType::I64) || l.shape() != [batch] {
                    return Err(Error::Shape(format!(
                        "{op}: sequence_lens must be int32/int64 [{batch}], got {} {:?}",
                        l.dtype(),
                        l.shape()
                    )));
                }
                Some(l.clone())
            }
            None => None,
        };
        Ok(Operands {
            seq,
            batch,
            inp,
            hs,
            dirs,
            x: cx.dev(x)?,
            w: cx.dev(w)?,
            r: cx.dev(r)?,
            b: opt(3, &[dirs, 2 * g * hs], "B")?,
            h0: opt(5, &state, "initial_h")?,
            c0: if self.lstm { opt(6, &state, "initial_c")? } else { None },
            p: if self.lstm { opt(7, &[dirs, 3 * hs], "P")? } else { None },
            lens,
        })
    }

    /// Rows per block of the fused kernel and its shared memory, or `None` if one row does not fit.
    fn fused_shape(&self, gpu: &Gpu, o: &Operands) -> Option<(usize, usize)> {
        // h, c, r⊙h, the gates, and RNN_SLICES partial sums of the gates (kernels.cu)
        let per_row = (3 + (1 + RNN_SLICES) * self.gates()) * o.hs * 4;
        let want = (o.batch * o.dirs).div_ceil(gpu.sms().max(1) as usize).clamp(1, RNN_ROWS);
        let rows = want.min(SMEM_LIMIT / per_row.max(1));
        (rows >= 1).then_some((rows, rows * per_row))
    }

    /// Whether the per-step path can run these operands (it ignores sequence_lens shorter than
    /// the sequence, so those need a host check: constant lengths only).
    fn steps_ok(&self, cx: &Cx, o: &Operands) -> Result<bool> {
        if !self.plain {
            return Ok(false);
        }
        match &o.lens {
            None => Ok(true),
            Some(l @ Val::Host(..)) => Ok(cx.host(l)?.to_i64_vec().iter().all(|&v| v == o.seq as i64)),
            Some(Val::Dev(_)) => Ok(false),
        }
    }
}

impl GpuOp for Rnn {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let o = self.operands(cx, ins)?;
        let gpu = cx.gpu;
        let (seq, batch, hs, dirs) = (o.seq, o.batch, o.hs, o.dirs);
        let state = if self.attrs.layout == 0 { vec![dirs, batch, hs] } else { vec![batch, dirs, hs] };
        let y_shape = if self.attrs.layout == 0 { vec![seq, dirs, batch, hs] } else { vec![batch, seq, dirs, hs] };
        let y = gpu.empty(DType::F32, y_shape)?;
        let yh = gpu.empty(DType::F32, state.clone())?;
        let yc = if self.lstm { Some(gpu.empty(DType::F32, state)?) } else { None };
        let fused = self.fused_shape(gpu, &o);
        let use_steps = match self.mode.as_str() {
            "steps" => self.steps_ok(cx, &o)?,
            "fused" => fused.is_none() && self.steps_ok(cx, &o)?,
            _ => {
                (fused.is_none() || hs > FUSED_MAX_HIDDEN || (dirs == 1 && batch < STEPS_MAX_BATCH))
                    && self.steps_ok(cx, &o)?
            }
        };
        if use_steps {
            self.run_steps(gpu, &o, &y, &yh, yc.as_ref())?;
        } else {
            let Some((rows, smem)) = fused else {
                return Err(Error::Unsupported(format!(
                    "CUDA {}: hidden size {hs} with these attributes has no kernel",
                    self.op()
                )));
            };
            self.run_fused(cx, &o, rows, smem, &y, &yh, yc.as_ref())?;
        }
        let mut outs = vec![Val::Dev(y), Val::Dev(yh)];
        if let Some(yc) = yc {
            outs.push(Val::Dev(yc));
        }
        Ok(outs)
    }
}

impl Rnn {
    /// The whole layer: one GEMM for X·Wᵀ of both directions, one transpose of R, one kernel.
    #[allow(clippy::too_many_arguments)]
    fn run_fused(
        &self,
        cx: &Cx,
        o: &Operands,
        rows: usize,
        smem: usize,
        y: &GTensor,
        yh: &GTensor,
        yc: Option<&GTensor>,
    ) -> Result<()> {
        let gpu = cx.gpu;
        if o.batch == 0 || o.hs == 0 {
            return Ok(());
        }
        let gh = self.gates() * o.hs;
        let n = o.dirs * gh;
        let xw = gpu.empty(DType::F32, vec![o.seq * o.batch, n])?;
        if o.inp == 0 {
            gpu.launch_n("fill_f32", xw.len(), &[&(xw.len() as i64), &0f32, &xw.ptr()])?;
        } else if o.seq > 0 {
            gpu.sgemm(
                false,
                true,
                o.seq * o.batch,
                n,
                o.inp,
                1.0,
                o.x.ptr(),
                o.inp,
                0,
                o.w.ptr(),
                o.inp,
                0,
                0.0,
                xw.ptr(),
                0,
                1,
            )?;
        }
        let rt = gpu.empty(DType::F32, vec![o.dirs, o.hs, gh])?;
        let (d, m, k) = (o.dirs as i64, gh as i64, o.hs as i64);
        gpu.launch_n("transpose_last2_f32", rt.len(), &[&d, &m, &k, &o.r.ptr(), &rt.ptr()])?;
        let lens = match &o.lens {
            Some(l) => Some(cx.dev(l)?),
            None => None,
        };
        let ptr = |t: Option<&GTensor>| t.map(|t| t.ptr()).unwrap_or(0);
        let a = &self.attrs;
        let pick = |f: fn((i32, f32, f32)) -> f32| self.acts.map(|set| set.map(f));
        let p = RnnSeq {
            seq: o.seq as i64,
            batch: o.batch as i64,
            hs: o.hs as i64,
            rows: rows as i64,
            dirs: o.dirs as i64,
            layout: a.layout,
            lstm: self.lstm as i32,
            lbr: self.lbr as i32,
            input_forget: self.input_forget as i32,
            reverse: a.direction.is_reverse(0) as i32,
            has_clip: a.clip.is_some() as i32,
            lens_i64: lens.as_ref().is_some_and(|l| l.dtype() == DType::I64) as i32,
            clip: a.clip.unwrap_or(0.0) as f32,
            act: self.acts.map(|set| set.map(|f| f.0)),
            aa: pick(|f| f.1),
            ab: pick(|f| f.2),
            xw: xw.ptr(),
            rt: rt.ptr(),
            bias: ptr(o.b.as_ref()),
            peep: ptr(o.p.as_ref()),
            h0: ptr(o.h0.as_ref()),
            c0: ptr(o.c0.as_ref()),
            lens: ptr(lens.as_ref()),
            y: y.ptr(),
            yh: yh.ptr(),
            yc: ptr(yc),
            bad: gpu.bad_flag(),
        };
        let blocks = (o.batch.div_ceil(rows) * o.dirs) as u32;
        let cols = if self.lstm || self.lbr { gh } else { 2 * o.hs };
        // threads per column = slices of its k range (the kernel derives them from the block size)
        let threads = ((cols * self.slices).div_ceil(32) * 32).clamp(32, 1024) as u32;
        gpu.launch_smem("rnn_seq_f32", blocks, threads, smem as u32, &[&p])
    }

    /// Per step: one GEMM h·Rᵀ and one gate kernel (default attributes, layout 0, full lengths).
    fn run_steps(&self, gpu: &Gpu, o: &Operands, y: &GTensor, yh: &GTensor, yc: Option<&GTensor>) -> Result<()> {
        let (seq, batch, hs, dirs, inp) = (o.seq, o.batch, o.hs, o.dirs, o.inp);
        let g = self.gates();
        let fb = gpu.esize(DType::F32);
        let fs = fb as u64;
        let xw = gpu.empty(DType::F32, vec![seq * batch, g * hs])?;
        let hr = gpu.empty(DType::F32, vec![batch, g * hs])?;
        let h = gpu.empty(DType::F32, vec![batch, hs])?;
        let c = gpu.empty(DType::F32, vec![batch, hs])?;
        let tmp = gpu.empty(DType::F32, vec![batch, hs])?;
        let tmp2 = gpu.empty(DType::F32, vec![batch, hs])?;
        let bsum = gpu.empty(DType::F32, vec![g * hs])?;
        let st = (batch * hs) as u64 * fs;
        for d in 0..dirs {
            let wd = o.w.ptr() + (d * g * hs * inp) as u64 * fs;
            let rd = o.r.ptr() + (d * g * hs * hs) as u64 * fs;
            gpu.sgemm(false, true, seq * batch, g * hs, inp, 1.0, o.x.ptr(), inp, 0, wd, inp, 0, 0.0, xw.ptr(), 0, 1)?;
            let mut rb: u64 = 0;
            if let Some(b) = &o.b {
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
            let init = |dst: &GTensor, src: &Option<GTensor>| match src {
                Some(s) => gpu.copy_d2d(dst.ptr(), s.ptr() + d as u64 * st, nstate * fb),
                None => gpu.launch_n("fill_f32", nstate, &[&(nstate as i64), &0f32, &dst.ptr()]),
            };
            init(&h, &o.h0)?;
            if self.lstm {
                init(&c, &o.c0)?;
            }
            let backward = self.attrs.direction.is_reverse(d);
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
            if let Some(yc) = yc {
                gpu.copy_d2d(yc.ptr() + d as u64 * st, c.ptr(), nstate * fb)?;
            }
        }
        Ok(())
    }
}
