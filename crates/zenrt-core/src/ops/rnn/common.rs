//! Shared machinery of the recurrent operators (LSTM, GRU, RNN): attributes (direction,
//! layout, clip, activations), input unpacking to time-major buffers, sequence lengths, the
//! f32 weights packed once as GEMM operands ([`PackedRnn`]), and output assembly.

use super::panels::PanelMat;
use crate::ops::{BuildCtx, InferInput};
use crate::{bail, checked_numel, ensure, DType, Dim, Error, Result, Tensor, ValueInfo};
use std::borrow::Cow;

/// Float types the recurrent kernels compute in (f16/bf16 are computed in f32).
pub use crate::ops::gemm::{gemm, GemmFloat as RFloat, Mat};

/// An activation function of a recurrent cell, with its alpha/beta.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Sigmoid,
    Tanh,
    Relu,
    HardSigmoid(f64, f64),
    Affine(f64, f64),
    LeakyRelu(f64),
    ThresholdedRelu(f64),
    ScaledTanh(f64, f64),
    Elu(f64),
    Softsign,
    Softplus,
}

impl Act {
    #[inline]
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Act::Sigmoid => {
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (1.0 + e)
                }
            }
            Act::Tanh => x.tanh(),
            Act::Relu => x.max(0.0),
            Act::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Act::Affine(a, b) => a * x + b,
            Act::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Act::ThresholdedRelu(a) => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
            Act::ScaledTanh(a, b) => a * (b * x).tanh(),
            Act::Elu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * (x.exp() - 1.0)
                }
            }
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Softplus => {
                // log(1 + e^x), stable for large |x|
                if x > 0.0 {
                    x + (-x).exp().ln_1p()
                } else {
                    x.exp().ln_1p()
                }
            }
        }
    }

    /// The vector kernel computing this activation on f32 (every cell activation has one).
    pub fn simd_f32(self) -> crate::simd::UnaryFn {
        use crate::simd::UnaryFn as F;
        match self {
            Act::Sigmoid => F::Sigmoid,
            Act::Tanh => F::Tanh,
            Act::Relu => F::Relu,
            Act::HardSigmoid(a, b) => F::HardSigmoid(a as f32, b as f32),
            Act::Affine(a, b) => F::Affine(a as f32, b as f32),
            Act::LeakyRelu(a) => F::LeakyRelu(a as f32),
            Act::ThresholdedRelu(a) => F::ThresholdedRelu(a as f32),
            Act::ScaledTanh(a, b) => F::ScaledTanh(a as f32, b as f32),
            Act::Elu(a) => F::Elu(a as f32),
            Act::Softsign => F::Softsign,
            Act::Softplus => F::Softplus,
        }
    }

    /// Applies the activation in place to f32 gate values, clipping them first when `clip`
    /// is set (the vectorised cell kernels of the f32 paths).
    pub fn apply_f32(self, clip: Option<f64>, x: &mut [f32]) {
        if let Some(c) = clip {
            crate::simd::map_inplace(crate::simd::UnaryFn::Clip(-c as f32, c as f32), x);
        }
        crate::simd::map_inplace(self.simd_f32(), x);
    }

    /// Parses an activation name, consuming alpha/beta from the attribute lists in order
    /// (as onnxruntime does); missing values take the defaults of the matching ONNX operator.
    fn parse(name: &str, alphas: &mut std::slice::Iter<f32>, betas: &mut std::slice::Iter<f32>) -> Result<Act> {
        let mut a = |d: f64| alphas.next().map(|&v| v as f64).unwrap_or(d);
        let lname = name.to_ascii_lowercase();
        Ok(match lname.as_str() {
            "sigmoid" => Act::Sigmoid,
            "tanh" => Act::Tanh,
            "relu" => Act::Relu,
            "softsign" => Act::Softsign,
            "softplus" => Act::Softplus,
            "leakyrelu" => Act::LeakyRelu(a(0.01)),
            "thresholdedrelu" => Act::ThresholdedRelu(a(1.0)),
            "elu" => Act::Elu(a(1.0)),
            "hardsigmoid" | "affine" | "scaledtanh" => {
                let (da, db) = match lname.as_str() {
                    "hardsigmoid" => (0.2, 0.5),
                    "affine" => (1.0, 0.0),
                    _ => (1.0, 1.0),
                };
                let av = a(da);
                let bv = betas.next().map(|&v| v as f64).unwrap_or(db);
                match lname.as_str() {
                    "hardsigmoid" => Act::HardSigmoid(av, bv),
                    "affine" => Act::Affine(av, bv),
                    _ => Act::ScaledTanh(av, bv),
                }
            }
            _ => {
                return Err(Error::Attr {
                    attr: "activations".into(),
                    msg: format!("unknown activation function '{name}'"),
                })
            }
        })
    }
}

/// Which way(s) the sequence is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

impl Direction {
    pub fn num(self) -> usize {
        if self == Direction::Bidirectional {
            2
        } else {
            1
        }
    }
    /// Whether direction index `d` runs backwards in time.
    pub fn is_reverse(self, d: usize) -> bool {
        self == Direction::Reverse || (self == Direction::Bidirectional && d == 1)
    }
}

/// Attributes common to LSTM, GRU and RNN.
#[derive(Debug, Clone)]
pub struct RnnAttrs {
    pub direction: Direction,
    pub hidden_size: Option<usize>,
    /// 0: `[seq, batch, ...]`; 1: `[batch, seq, ...]` (opset 14).
    pub layout: i64,
    pub clip: Option<f64>,
    /// Activations per direction (`defaults.len()` of them each).
    pub acts: Vec<Vec<Act>>,
}

impl RnnAttrs {
    pub fn parse(cx: &BuildCtx, defaults: &[&str]) -> Result<RnnAttrs> {
        let direction = match cx.string("direction", "forward")?.as_str() {
            "forward" => Direction::Forward,
            "reverse" => Direction::Reverse,
            "bidirectional" => Direction::Bidirectional,
            d => return Err(Error::Attr { attr: "direction".into(), msg: format!("unknown direction '{d}'") }),
        };
        let hidden_size = match cx.int_opt("hidden_size")? {
            None => None,
            Some(h) if h >= 0 => Some(h as usize),
            Some(h) => return Err(Error::Attr { attr: "hidden_size".into(), msg: format!("must be >= 0, got {h}") }),
        };
        let layout = cx.int("layout", 0)?;
        if layout != 0 && layout != 1 {
            return Err(Error::Attr { attr: "layout".into(), msg: format!("must be 0 or 1, got {layout}") });
        }
        let clip = match cx.float_opt("clip")? {
            None => None,
            Some(c) if c >= 0.0 => Some(c as f64),
            Some(c) => return Err(Error::Attr { attr: "clip".into(), msg: format!("must be >= 0, got {c}") }),
        };
        let dirs = direction.num();
        let per = defaults.len();
        let names: Vec<String> = match cx.strings_opt("activations")? {
            None => (0..dirs).flat_map(|_| defaults.iter().map(|s| s.to_string())).collect(),
            Some(v) if v.len() == per * dirs => v,
            // One set given for a bidirectional op: use it for both directions.
            Some(v) if v.len() == per && dirs == 2 => v.iter().chain(v.iter()).cloned().collect(),
            Some(v) => {
                return Err(Error::Attr {
                    attr: "activations".into(),
                    msg: format!("expected {} activation functions, got {}", per * dirs, v.len()),
                })
            }
        };
        let alphas = cx.floats_opt("activation_alpha")?.unwrap_or_default();
        let betas = cx.floats_opt("activation_beta")?.unwrap_or_default();
        let (mut ai, mut bi) = (alphas.iter(), betas.iter());
        let flat: Vec<Act> = names.iter().map(|n| Act::parse(n, &mut ai, &mut bi)).collect::<Result<_>>()?;
        let acts = flat.chunks(per).map(|c| c.to_vec()).collect();
        Ok(RnnAttrs { direction, hidden_size, layout, clip, acts })
    }

    /// Clips a gate pre-activation to `[-clip, clip]` when `clip` is set.
    #[inline]
    pub fn clip(&self, x: f64) -> f64 {
        match self.clip {
            Some(c) => x.clamp(-c, c),
            None => x,
        }
    }

    /// Static output info: Y `[seq, dirs, batch, hidden]`, Y_h (and Y_c) `[dirs, batch, hidden]`
    /// (batch first for layout 1).
    pub fn infer(&self, inputs: &[InferInput], n_states: usize) -> Vec<ValueInfo> {
        let Some(x) = inputs.first().and_then(|i| i.info) else { return vec![] };
        let dims = |s: Option<&Vec<Dim>>, i: usize| s.and_then(|s| s.get(i).cloned()).unwrap_or(Dim::Unknown);
        let xs = x.shape.as_ref();
        let (seq, batch) = if self.layout == 0 { (dims(xs, 0), dims(xs, 1)) } else { (dims(xs, 1), dims(xs, 0)) };
        let r = inputs.get(2).and_then(|i| i.info).and_then(|i| i.shape.as_ref());
        let hidden = match self.hidden_size {
            Some(h) => Dim::Known(h),
            None => dims(r, 2),
        };
        let d = Dim::Known(self.direction.num());
        let (y, st) = if self.layout == 0 {
            (vec![seq, d.clone(), batch.clone(), hidden.clone()], vec![d, batch, hidden])
        } else {
            (vec![batch.clone(), seq, d.clone(), hidden.clone()], vec![batch, d, hidden])
        };
        let mut v = vec![ValueInfo::new("", x.dtype, Some(y))];
        for _ in 0..n_states {
            v.push(ValueInfo::new("", x.dtype, Some(st.clone())));
        }
        v
    }
}

/// The unpacked, shape-checked inputs of a recurrent op, as time-major buffers (borrowed from
/// the inputs where no reordering is needed).
pub struct Unpacked<'a, T: Clone> {
    pub seq: usize,
    pub batch: usize,
    pub input: usize,
    pub hidden: usize,
    pub dirs: usize,
    /// `[seq, batch, input]`.
    pub x: Cow<'a, [T]>,
    /// `[dirs, rows, input]`.
    pub w: &'a [T],
    /// `[dirs, rows, hidden]`.
    pub r: &'a [T],
    /// `[dirs, 2 * rows]` (zeros when absent).
    pub b: Vec<T>,
    /// Valid length of each batch entry (all `seq` when absent).
    pub lens: Vec<usize>,
    /// `[dirs, batch, hidden]` (zeros when absent).
    pub h0: Vec<T>,
}

impl<'a, T: RFloat> Unpacked<'a, T> {
    /// Unpacks X, W, R, B, sequence_lens, initial_h (inputs 0..=5); `gates` is the number of
    /// gate blocks stacked in W/R (4 for LSTM, 3 for GRU, 1 for RNN).
    pub fn new(op: &str, attrs: &RnnAttrs, inputs: &[Option<&'a Tensor>], gates: usize) -> Result<Unpacked<'a, T>> {
        let x = crate::ops::input(inputs, 0, op)?;
        let w = crate::ops::input(inputs, 1, op)?;
        let r = crate::ops::input(inputs, 2, op)?;
        ensure!(x.rank() == 3, "{op}: X must have rank 3, got shape {:?}", x.shape());
        ensure!(w.rank() == 3, "{op}: W must have rank 3, got shape {:?}", w.shape());
        ensure!(r.rank() == 3, "{op}: R must have rank 3, got shape {:?}", r.shape());
        let dirs = attrs.direction.num();
        let (seq, batch, input) = if attrs.layout == 0 {
            (x.shape()[0], x.shape()[1], x.shape()[2])
        } else {
            (x.shape()[1], x.shape()[0], x.shape()[2])
        };
        let hidden = r.shape()[2];
        if let Some(h) = attrs.hidden_size {
            ensure!(h == hidden, "{op}: hidden_size is {h} but R has shape {:?}", r.shape());
        }
        let rows = gates * hidden;
        ensure!(
            w.shape() == [dirs, rows, input],
            "{op}: W must have shape [{dirs}, {rows}, {input}], got {:?}",
            w.shape()
        );
        ensure!(
            r.shape() == [dirs, rows, hidden],
            "{op}: R must have shape [{dirs}, {rows}, {hidden}], got {:?}",
            r.shape()
        );
        let xv = x.as_slice::<T>()?;
        let xt = if attrs.layout == 0 { Cow::Borrowed(xv) } else { Cow::Owned(swap01(xv, batch, seq, input)) };
        let b = match crate::ops::opt_input(inputs, 3) {
            Some(b) => {
                ensure!(
                    b.shape() == [dirs, 2 * rows],
                    "{op}: B must have shape [{dirs}, {}], got {:?}",
                    2 * rows,
                    b.shape()
                );
                b.as_slice::<T>()?.to_vec()
            }
            None => vec![T::zero(); dirs * 2 * rows],
        };
        let lens = seq_lens(crate::ops::opt_input(inputs, 4), batch, seq, op)?;
        let h0 =
            state_input::<T>(crate::ops::opt_input(inputs, 5), attrs.layout, dirs, batch, hidden, "initial_h", op)?;
        checked_numel(&[seq, dirs, batch, hidden], T::DTYPE, "Y")?;
        checked_numel(&[seq, batch, rows], T::DTYPE, "gate buffer")?;
        Ok(Unpacked {
            seq,
            batch,
            input,
            hidden,
            dirs,
            x: xt,
            w: w.as_slice::<T>()?,
            r: r.as_slice::<T>()?,
            b,
            lens,
            h0,
        })
    }

    /// Rows `[seq*batch, n]` = X · W[d]ᵀ + bias (bias of length n), for W[d] of `n` rows.
    pub fn input_projection(&self, d: usize, n: usize, bias: &[f64]) -> Result<Vec<T>> {
        let m = self.seq * self.batch;
        let mut out = vec![T::zero(); m * n];
        let wd = &self.w[d * n * self.input..(d + 1) * n * self.input];
        // W[d] is [n, input]; its transpose as a k×n matrix has row stride 1, column stride `input`.
        gemm(m, self.input, n, (&self.x[..], self.input, 1), (wd, 1, self.input), T::zero(), &mut out, n, 1)?;
        for row in out.chunks_mut(n.max(1)) {
            for (v, &bb) in row.iter_mut().zip(bias) {
                *v = T::from_f64(v.to_f64() + bb);
            }
        }
        Ok(out)
    }

    /// R[d] (all gates) as `[rows, hidden]`.
    pub fn r_dir(&self, d: usize) -> &[T] {
        let n = self.r.len() / self.dirs.max(1);
        &self.r[d * n..(d + 1) * n]
    }

    /// B[d] as f64 (`2 * rows` values: Wb then Rb).
    pub fn b_dir(&self, d: usize) -> Vec<f64> {
        let n = self.b.len() / self.dirs.max(1);
        self.b[d * n..(d + 1) * n].iter().map(|v| v.to_f64()).collect()
    }

    /// The initial state of direction `d`, `[batch, hidden]`.
    pub fn h0_dir(&self, d: usize) -> Vec<T> {
        let n = self.batch * self.hidden;
        self.h0[d * n..(d + 1) * n].to_vec()
    }

    /// Number of steps to run (the longest sequence).
    pub fn steps(&self) -> usize {
        self.lens.iter().copied().max().unwrap_or(0)
    }

    /// Number of steps batch entries `b0..b1` need (their longest sequence).
    pub fn steps_of(&self, b0: usize, b1: usize) -> usize {
        self.lens[b0..b1].iter().copied().max().unwrap_or(0)
    }

    /// Time index processed at step `s` by batch entry `b` (None once its sequence is over).
    #[inline]
    pub fn time_index(&self, s: usize, b: usize, reverse: bool) -> Option<usize> {
        let len = self.lens[b];
        if s >= len {
            None
        } else if reverse {
            Some(len - 1 - s)
        } else {
            Some(s)
        }
    }
}

impl Unpacked<'_, f32> {
    /// Rows `[seq*batch, n]` = X · W[d]ᵀ + bias on the packed W (bias of length n), split over
    /// the pool by rows.
    pub fn projection_f32(&self, pk: &PackedRnn, d: usize, bias: &[f32]) -> Result<Vec<f32>> {
        let w = &pk.per_dir[d].0;
        let m = self.seq * self.batch;
        let mut out = crate::memory::alloc_for_overwrite::<f32>(m * w.n);
        w.matmul_par(&self.x, m, Some(bias), &mut out)?;
        Ok(out)
    }
}

/// Multiply-adds of recurrence below which a slice is not worth its own task (a split costs a
/// few µs); 1 in unit tests, so their small cases run split too.
const PAR_SLICE_WORK: usize = if cfg!(test) { 1 } else { 1 << 16 };

/// Runs the f32 recurrence in independent slices: each direction, and within it each range of
/// batch entries (batch entries never interact, so a slice runs all its steps without syncing
/// with the others). `f(d, b0, b1, y)` runs entries `b0..b1` of direction `d`, writes their
/// outputs into `y` (`[seq, b1 - b0, hidden]`, zero-filled) and returns their `K` final states
/// (each `[b1 - b0, hidden]`). `work` is the recurrence's multiply-adds per direction; with a
/// pool, directions and batch ranges go to separate tasks while each keeps at least
/// [`PAR_SLICE_WORK`]. Returns Y (`[seq, dirs, batch, hidden]`) and the `K` states
/// (`[dirs, batch, hidden]`).
pub fn run_slices<const K: usize>(
    u: &Unpacked<f32>,
    work: usize,
    f: impl Fn(usize, usize, usize, &mut [f32]) -> Result<[Vec<f32>; K]> + Sync,
) -> Result<(Vec<f32>, [Vec<f32>; K])> {
    let (seq, dirs, batch, hs) = (u.seq, u.dirs, u.batch, u.hidden);
    let threads = crate::threads::current();
    let per_dir = threads.div_ceil(dirs).min(batch).min(work / PAR_SLICE_WORK).max(1);
    let chunks = if threads > 1 { per_dir } else { 1 };
    let range = |c: usize| (c * batch / chunks, (c + 1) * batch / chunks);
    type Part<const K: usize> = std::sync::Mutex<Option<(Vec<f32>, [Vec<f32>; K])>>;
    let parts: Vec<Part<K>> = (0..dirs * chunks).map(|_| Default::default()).collect();
    let task = |i: usize| -> Result<()> {
        let (d, (b0, b1)) = (i / chunks, range(i % chunks));
        let mut y = crate::memory::alloc::<f32>(seq * (b1 - b0) * hs);
        let st = f(d, b0, b1, &mut y)?;
        *parts[i].lock().unwrap_or_else(|e| e.into_inner()) = Some((y, st));
        Ok(())
    };
    if parts.len() > 1 && threads > 1 && work >= PAR_SLICE_WORK {
        crate::threads::try_for_each_task(parts.len(), task)?;
    } else {
        (0..parts.len()).try_for_each(task)?;
    }
    let mut y = crate::memory::alloc_for_overwrite::<f32>(seq * dirs * batch * hs);
    let mut states: [Vec<f32>; K] = std::array::from_fn(|_| vec![0f32; dirs * batch * hs]);
    for (i, part) in parts.into_iter().enumerate() {
        let (d, (b0, b1)) = (i / chunks, range(i % chunks));
        let Some((yp, st)) = part.into_inner().unwrap_or_else(|e| e.into_inner()) else {
            return Err(Error::Invalid("RNN: a slice did not run".into()));
        };
        let w = (b1 - b0) * hs;
        for t in 0..seq {
            y[((t * dirs + d) * batch + b0) * hs..][..w].copy_from_slice(&yp[t * w..(t + 1) * w]);
        }
        for (dst, src) in states.iter_mut().zip(&st) {
            dst[(d * batch + b0) * hs..][..w].copy_from_slice(&src[..w]);
        }
        crate::memory::recycle(yp);
    }
    Ok((y, states))
}

/// W and R of every direction packed once (at plan time when they are constants) as the right
/// operands of the f32 products ([`PanelMat`]): `Wᵀ` (`input × rows`) and `Rᵀ` split into
/// column parts.
#[derive(Debug)]
pub struct PackedRnn {
    pub dirs: usize,
    pub input: usize,
    pub hidden: usize,
    /// Per direction: `Wᵀ` and the parts of `Rᵀ` (one per row range of R).
    pub per_dir: Vec<(PanelMat, Vec<PanelMat>)>,
}

impl PackedRnn {
    /// Packs `w` (`[dirs, rows, input]`) and `r` (`[dirs, rows, hidden]`); `r_parts` are the row
    /// ranges of R packed as separate operands.
    pub fn new(
        w: &[f32],
        r: &[f32],
        (dirs, rows, input, hidden): (usize, usize, usize, usize),
        r_parts: &[(usize, usize)],
    ) -> Result<PackedRnn> {
        let mut per_dir = Vec::with_capacity(dirs);
        for d in 0..dirs {
            let wd = w.get(d * rows * input..(d + 1) * rows * input).unwrap_or_default();
            let wp = PanelMat::from_transposed(wd, rows, input)?;
            let mut parts = Vec::with_capacity(r_parts.len());
            for &(r0, r1) in r_parts {
                let rd = r.get((d * rows + r0) * hidden..(d * rows + r1) * hidden).unwrap_or_default();
                parts.push(PanelMat::from_transposed(rd, r1 - r0, hidden)?);
            }
            per_dir.push((wp, parts));
        }
        Ok(PackedRnn { dirs, input, hidden, per_dir })
    }

    /// The packing of constant f32 W and R (inputs 1 and 2), `None` when they are not both
    /// constant f32 tensors of rank 3 with `gates` blocks; `r_parts` in units of `hidden` rows.
    pub fn from_consts(
        consts: &[Option<&Tensor>],
        gates: usize,
        r_parts: &[(usize, usize)],
    ) -> Result<Option<PackedRnn>> {
        let (Some(Some(w)), Some(Some(r))) = (consts.get(1), consts.get(2)) else { return Ok(None) };
        if w.dtype() != DType::F32 || r.dtype() != DType::F32 || w.rank() != 3 || r.rank() != 3 {
            return Ok(None);
        }
        let (dirs, rows, input, hidden) = (w.shape()[0], w.shape()[1], w.shape()[2], r.shape()[2]);
        if rows != gates * hidden || r.shape() != [dirs, rows, hidden] {
            return Ok(None);
        }
        let parts: Vec<(usize, usize)> = r_parts.iter().map(|&(a, b)| (a * hidden, b * hidden)).collect();
        Ok(Some(PackedRnn::new(w.as_slice()?, r.as_slice()?, (dirs, rows, input, hidden), &parts)?))
    }

    /// Whether this packing is for the shapes of `u`.
    pub fn fits(&self, u: &Unpacked<f32>) -> bool {
        (self.dirs, self.input, self.hidden) == (u.dirs, u.input, u.hidden)
    }

    /// `out[batch, cols] = h · R[d]ᵀ` over R part `part` (`h` is `[batch, hidden]`).
    pub fn step(&self, d: usize, part: usize, h: &[f32], batch: usize, out: &mut [f32]) -> Result<()> {
        let rp = &self.per_dir[d].1[part];
        rp.matmul(h, self.hidden, batch, None, out, rp.n)
    }
}

/// `[a, b, c]` → `[b, a, c]`.
pub fn swap01<T: Copy>(v: &[T], a: usize, b: usize, c: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for j in 0..b {
        for i in 0..a {
            let o = (i * b + j) * c;
            out.extend_from_slice(&v[o..o + c]);
        }
    }
    out
}

/// Reads sequence_lens (int32 `[batch]`), checking every value lies in `0..=seq`.
pub fn seq_lens(t: Option<&Tensor>, batch: usize, seq: usize, op: &str) -> Result<Vec<usize>> {
    let Some(t) = t else { return Ok(vec![seq; batch]) };
    ensure!(t.dtype().is_int(), "{op}: sequence_lens must be an integer tensor, got {}", t.dtype());
    ensure!(t.shape() == [batch], "{op}: sequence_lens must have shape [{batch}], got {:?}", t.shape());
    t.to_i64_vec()
        .into_iter()
        .map(|l| {
            if l < 0 || l as u64 > seq as u64 {
                bail!("{op}: sequence_lens value {l} is outside [0, {seq}]")
            }
            Ok(l as usize)
        })
        .collect()
}

/// Reads initial_h / initial_c into `[dirs, batch, hidden]` (zeros when absent).
pub fn state_input<T: RFloat>(
    t: Option<&Tensor>,
    layout: i64,
    dirs: usize,
    batch: usize,
    hidden: usize,
    what: &str,
    op: &str,
) -> Result<Vec<T>> {
    let Some(t) = t else { return Ok(vec![T::zero(); dirs * batch * hidden]) };
    let expect = if layout == 0 { [dirs, batch, hidden] } else { [batch, dirs, hidden] };
    ensure!(t.shape() == expect, "{op}: {what} must have shape {expect:?}, got {:?}", t.shape());
    let v = t.as_slice::<T>()?;
    Ok(if layout == 0 { v.to_vec() } else { swap01(v, batch, dirs, hidden) })
}

/// Builds the Y output from `[seq, dirs, batch, hidden]` data.
pub fn y_output<T: RFloat>(y: Vec<T>, u: &Unpacked<'_, T>, layout: i64) -> Result<Tensor> {
    let (s, d, b, h) = (u.seq, u.dirs, u.batch, u.hidden);
    if layout == 0 {
        return Tensor::from_vec(vec![s, d, b, h], y);
    }
    // → [batch, seq, dirs, hidden]
    let mut out = Vec::with_capacity(y.len());
    for bi in 0..b {
        for si in 0..s {
            for di in 0..d {
                let o = ((si * d + di) * b + bi) * h;
                out.extend_from_slice(&y[o..o + h]);
            }
        }
    }
    Tensor::from_vec(vec![b, s, d, h], out)
}

/// Builds a final-state output (Y_h / Y_c) from `[dirs, batch, hidden]` data.
pub fn state_output<T: RFloat>(v: Vec<T>, u: &Unpacked<'_, T>, layout: i64) -> Result<Tensor> {
    let (d, b, h) = (u.dirs, u.batch, u.hidden);
    if layout == 0 {
        Tensor::from_vec(vec![d, b, h], v)
    } else {
        Tensor::from_vec(vec![b, d, h], swap01(&v, d, b, h))
    }
}

/// Runs `f` in the right float type for X's dtype: f32 and f64 natively, f16/bf16 through f32
/// (float inputs are converted up and the outputs rounded back).
pub fn with_float_type(
    op: &str,
    inputs: &[Option<&Tensor>],
    f32_fn: impl Fn(&[Option<&Tensor>]) -> Result<Vec<Tensor>>,
    f64_fn: impl Fn(&[Option<&Tensor>]) -> Result<Vec<Tensor>>,
) -> Result<Vec<Tensor>> {
    let x = crate::ops::input(inputs, 0, op)?;
    let dt = x.dtype();
    match dt {
        DType::F32 => f32_fn(inputs),
        DType::F64 => f64_fn(inputs),
        DType::F16 | DType::BF16 => {
            let up: Vec<Option<Tensor>> = inputs
                .iter()
                .map(|t| match t {
                    Some(t) if t.dtype() == dt => t.cast(DType::F32).map(Some),
                    Some(t) => Ok(Some((*t).clone())),
                    None => Ok(None),
                })
                .collect::<Result<_>>()?;
            let refs: Vec<Option<&Tensor>> = up.iter().map(|t| t.as_ref()).collect();
            f32_fn(&refs)?.iter().map(|t| t.cast(dt)).collect()
        }
        _ => Err(Error::UnsupportedDType { op: op.to_string(), dtype: dt }),
    }
}
