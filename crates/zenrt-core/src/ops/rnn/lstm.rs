//! LSTM (ONNX semantics: gate order i, o, f, c; peepholes P = [p_i, p_o, p_f]; input_forget
//! couples f = 1 - i; sequence_lens, layout, clip and custom activations f, g, h).

use super::cell::{self, Cell, Row, StepBufs};
use super::common::{
    gemm, run_slices, state_input, state_output, with_float_type, y_output, Act, PackedRnn, RFloat, RnnAttrs, Unpacked,
};
use crate::ops::{opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Lstm {
    attrs: RnnAttrs,
    input_forget: bool,
    /// W and R packed at plan time (constant f32 weights).
    packed: Option<Arc<PackedRnn>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let attrs = RnnAttrs::parse(cx, &["Sigmoid", "Tanh", "Tanh"])?;
    let input_forget = cx.int("input_forget", 0)? != 0;
    Ok(Arc::new(Lstm { attrs, input_forget, packed: None }))
}

impl Lstm {
    fn compute<T: RFloat>(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = &self.attrs;
        let u = Unpacked::<T>::new("LSTM", a, inputs, 4)?;
        let (seq, batch, hs, dirs) = (u.seq, u.batch, u.hidden, u.dirs);
        let c0 = state_input::<T>(opt_input(inputs, 6), a.layout, dirs, batch, hs, "initial_c", "LSTM")?;
        let p: Vec<f64> = match opt_input(inputs, 7) {
            Some(p) => {
                ensure!(
                    p.shape() == [dirs, 3 * hs],
                    "LSTM: P must have shape [{dirs}, {}], got {:?}",
                    3 * hs,
                    p.shape()
                );
                p.as_slice::<T>()?.iter().map(|v| v.to_f64()).collect()
            }
            None => vec![0.0; dirs * 3 * hs],
        };
        let g4 = 4 * hs;
        let mut y = vec![T::zero(); seq * dirs * batch * hs];
        let mut yh = Vec::with_capacity(dirs * batch * hs);
        let mut yc = Vec::with_capacity(dirs * batch * hs);
        for d in 0..dirs {
            let rev = a.direction.is_reverse(d);
            let (fa, ga, ha) = (a.acts[d][0], a.acts[d][1], a.acts[d][2]);
            let bd = u.b_dir(d);
            let bias: Vec<f64> = (0..g4).map(|j| bd[j] + bd[g4 + j]).collect();
            let xw = u.input_projection(d, g4, &bias)?;
            let rd = u.r_dir(d);
            let pd = &p[d * 3 * hs..(d + 1) * 3 * hs];
            let (pi, po, pf) = (&pd[..hs], &pd[hs..2 * hs], &pd[2 * hs..]);
            let mut h = u.h0_dir(d);
            let mut c = c0[d * batch * hs..(d + 1) * batch * hs].to_vec();
            let mut hr = vec![T::zero(); batch * g4];
            for s in 0..u.steps() {
                // hr = H · Rᵀ for all gates at once: [batch, 4H]
                gemm(batch, hs, g4, (&h, hs, 1), (rd, 1, hs), T::zero(), &mut hr, g4, 1)?;
                for b in 0..batch {
                    let Some(t) = u.time_index(s, b, rev) else { continue };
                    let xrow = &xw[(t * batch + b) * g4..(t * batch + b + 1) * g4];
                    let hrow = &hr[b * g4..(b + 1) * g4];
                    let yrow = ((t * dirs + d) * batch + b) * hs;
                    for j in 0..hs {
                        let g = |k: usize| xrow[k * hs + j].to_f64() + hrow[k * hs + j].to_f64();
                        let cp = c[b * hs + j].to_f64();
                        let i = fa.apply(a.clip(g(0) + pi[j] * cp));
                        let f = if self.input_forget { 1.0 - i } else { fa.apply(a.clip(g(2) + pf[j] * cp)) };
                        let ct = ga.apply(a.clip(g(3)));
                        let cn = T::from_f64(f * cp + i * ct);
                        let o = fa.apply(a.clip(g(1) + po[j] * cn.to_f64()));
                        let hn = T::from_f64(o * ha.apply(cn.to_f64()));
                        c[b * hs + j] = cn;
                        h[b * hs + j] = hn;
                        y[yrow + j] = hn;
                    }
                }
            }
            yh.extend_from_slice(&h);
            yc.extend_from_slice(&c);
        }
        Ok(vec![y_output(y, &u, a.layout)?, state_output(yh, &u, a.layout)?, state_output(yc, &u, a.layout)?])
    }
}

impl Lstm {
    /// The f32 path: the input projection of all steps as one GEMM on the packed W (bias in its
    /// epilogue), per step one small-M GEMM H·Rᵀ on the packed R and vectorised gate kernels
    /// (no per-step allocation, no f64).
    #[allow(clippy::needless_range_loop)]
    fn compute_f32(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        use crate::simd::{self, BinFn};
        let a = &self.attrs;
        let u = Unpacked::<f32>::new("LSTM", a, inputs, 4)?;
        let (batch, hs, dirs) = (u.batch, u.hidden, u.dirs);
        let c0 = state_input::<f32>(opt_input(inputs, 6), a.layout, dirs, batch, hs, "initial_c", "LSTM")?;
        let p: Option<Vec<f32>> = match opt_input(inputs, 7) {
            Some(p) => {
                ensure!(
                    p.shape() == [dirs, 3 * hs],
                    "LSTM: P must have shape [{dirs}, {}], got {:?}",
                    3 * hs,
                    p.shape()
                );
                Some(p.as_slice::<f32>()?.to_vec())
            }
            None => None,
        };
        let g4 = 4 * hs;
        let owned;
        let pk = match self.packed.as_deref().filter(|p| p.fits(&u)) {
            Some(p) => p,
            None => {
                owned = PackedRnn::new(u.w, u.r, (dirs, g4, u.input, hs), &[(0, g4)])?;
                &owned
            }
        };
        // The input projections first (large GEMMs, split inside), then the recurrence in
        // independent slices (directions × batch ranges).
        let xws = (0..dirs)
            .map(|d| {
                let bd = u.b_dir(d);
                let bias: Vec<f32> = (0..g4).map(|j| (bd[j] + bd[g4 + j]) as f32).collect();
                u.projection_f32(pk, d, &bias)
            })
            .collect::<Result<Vec<_>>>()?;
        let (y, [yh, yc]) = run_slices(&u, u.seq * batch * g4 * hs, |d, b0, b1, y| {
            let nb = b1 - b0;
            let rev = a.direction.is_reverse(d);
            let (fa, ga, ha) = (a.acts[d][0], a.acts[d][1], a.acts[d][2]);
            let xw = &xws[d];
            let pd = p.as_ref().map(|p| &p[d * 3 * hs..(d + 1) * 3 * hs]);
            // Without peepholes or coupling, i, o and f (adjacent, same activation) go at once.
            let joint = pd.is_none() && !self.input_forget;
            let mut hr = vec![0f32; nb * g4];
            let mut tmp = vec![0f32; hs];
            let mut h = u.h0_dir(d)[b0 * hs..b1 * hs].to_vec();
            let mut c = c0[(d * batch + b0) * hs..(d * batch + b1) * hs].to_vec();
            let fused = (fa, ga, ha) == (Act::Sigmoid, Act::Tanh, Act::Tanh);
            let cell = Cell::Lstm { peep: pd, input_forget: self.input_forget };
            let mut rows = Vec::with_capacity(nb);
            for s in 0..u.steps_of(b0, b1) {
                pk.step(d, 0, &h, nb, &mut hr)?;
                if fused {
                    rows.clear();
                    rows.extend((b0..b1).enumerate().filter_map(|(bl, b)| {
                        let t = u.time_index(s, b, rev)?;
                        Some(Row { local: bl, xw: (t * batch + b) * g4, y: (t * nb + bl) * hs })
                    }));
                    let bufs = StepBufs { gates: &hr, xw, c: &mut c, h: &mut h, y: &mut *y };
                    cell::step(cell, hs, a.clip.map(|c| c as f32), &rows, bufs)?;
                    continue;
                }
                for (bl, b) in (b0..b1).enumerate() {
                    let Some(t) = u.time_index(s, b, rev) else { continue };
                    let g = &mut hr[bl * g4..(bl + 1) * g4];
                    simd::binary_inplace(BinFn::Add, g, &xw[(t * batch + b) * g4..(t * batch + b + 1) * g4]);
                    if joint {
                        fa.apply_f32(a.clip, &mut g[..3 * hs]);
                    }
                    let (gi, rest) = g.split_at_mut(hs);
                    let (go, rest) = rest.split_at_mut(hs);
                    let (gf, gc) = rest.split_at_mut(hs);
                    let cb = &mut c[bl * hs..(bl + 1) * hs];
                    if !joint {
                        if let Some(pd) = pd {
                            for j in 0..hs {
                                gi[j] += pd[j] * cb[j];
                                gf[j] += pd[2 * hs + j] * cb[j];
                            }
                        }
                        fa.apply_f32(a.clip, gi);
                        if self.input_forget {
                            for (f, &i) in gf.iter_mut().zip(gi.iter()) {
                                *f = 1.0 - i;
                            }
                        } else {
                            fa.apply_f32(a.clip, gf);
                        }
                    }
                    ga.apply_f32(a.clip, gc);
                    for j in 0..hs {
                        cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
                    }
                    if !joint {
                        if let Some(pd) = pd {
                            for j in 0..hs {
                                go[j] += pd[hs + j] * cb[j];
                            }
                        }
                        fa.apply_f32(a.clip, go);
                    }
                    tmp.copy_from_slice(cb);
                    ha.apply_f32(None, &mut tmp);
                    let hb = &mut h[bl * hs..(bl + 1) * hs];
                    simd::binary(BinFn::Mul, go, &tmp, hb);
                    let yrow = (t * nb + bl) * hs;
                    y[yrow..yrow + hs].copy_from_slice(hb);
                }
            }
            Ok([h, c])
        })?;
        xws.into_iter().for_each(crate::memory::recycle);
        Ok(vec![y_output(y, &u, a.layout)?, state_output(yh, &u, a.layout)?, state_output(yc, &u, a.layout)?])
    }
}

impl Op for Lstm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        with_float_type("LSTM", inputs, |i| self.compute_f32(i), |i| self.compute::<f64>(i))
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(self.attrs.infer(inputs, 2))
    }
    fn prepare(&self, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        let Some(p) = PackedRnn::from_consts(consts, 4, &[(0, 4)])? else { return Ok(None) };
        Ok(Some(Arc::new(Lstm {
            attrs: self.attrs.clone(),
            input_forget: self.input_forget,
            packed: Some(Arc::new(p)),
        })))
    }
}
