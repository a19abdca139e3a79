//! GRU (ONNX semantics: gate order z, r, h; B = [Wb_z, Wb_r, Wb_h, Rb_z, Rb_r, Rb_h];
//! linear_before_reset; sequence_lens, layout, clip and custom activations f, g).

use super::cell::{self, Cell, Row, StepBufs};
use super::common::{
    gemm, run_slices, state_output, with_float_type, y_output, Act, PackedRnn, RFloat, RnnAttrs, Unpacked,
};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Gru {
    attrs: RnnAttrs,
    linear_before_reset: bool,
    /// W and R packed at plan time (constant f32 weights).
    packed: Option<Arc<PackedRnn>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let attrs = RnnAttrs::parse(cx, &["Sigmoid", "Tanh"])?;
    let linear_before_reset = cx.int("linear_before_reset", 0)? != 0;
    Ok(Arc::new(Gru { attrs, linear_before_reset, packed: None }))
}

impl Gru {
    /// The parts of R multiplied per step, in gate blocks: all three with linear_before_reset,
    /// else z|r first and h (applied to r ⊙ H) second.
    fn r_parts(lbr: bool) -> Vec<(usize, usize)> {
        if lbr {
            vec![(0, 3)]
        } else {
            vec![(0, 2), (2, 3)]
        }
    }

    fn compute<T: RFloat>(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = &self.attrs;
        let u = Unpacked::<T>::new("GRU", a, inputs, 3)?;
        let (seq, batch, hs, dirs) = (u.seq, u.batch, u.hidden, u.dirs);
        let g3 = 3 * hs;
        let lbr = self.linear_before_reset;
        let mut y = vec![T::zero(); seq * dirs * batch * hs];
        let mut yh = Vec::with_capacity(dirs * batch * hs);
        for d in 0..dirs {
            let rev = a.direction.is_reverse(d);
            let (fa, ga) = (a.acts[d][0], a.acts[d][1]);
            let bd = u.b_dir(d);
            // Wb for all gates plus Rb for z and r; Rb_h is applied separately.
            let bias: Vec<f64> = (0..g3).map(|j| bd[j] + if j < 2 * hs { bd[g3 + j] } else { 0.0 }).collect();
            let rbh = &bd[g3 + 2 * hs..];
            let xw = u.input_projection(d, g3, &bias)?;
            let rd = u.r_dir(d);
            let rh = &rd[2 * hs * hs..];
            let mut h = u.h0_dir(d);
            // H·Rᵀ: z and r always; the h block too when linear_before_reset.
            let ncols = if lbr { g3 } else { 2 * hs };
            let mut hr = vec![T::zero(); batch * ncols];
            let mut z = vec![0f64; batch * hs];
            let mut r_h = vec![T::zero(); batch * hs]; // r ⊙ H (for linear_before_reset = 0)
            let mut rhr = vec![T::zero(); batch * hs]; // (r ⊙ H) · R_hᵀ
            let mut rgate = vec![0f64; batch * hs];
            for s in 0..u.steps() {
                gemm(batch, hs, ncols, (&h, hs, 1), (rd, 1, hs), T::zero(), &mut hr, ncols, 1)?;
                for b in 0..batch {
                    let Some(t) = u.time_index(s, b, rev) else { continue };
                    let xrow = &xw[(t * batch + b) * g3..(t * batch + b + 1) * g3];
                    let hrow = &hr[b * ncols..(b + 1) * ncols];
                    for j in 0..hs {
                        z[b * hs + j] = fa.apply(a.clip(xrow[j].to_f64() + hrow[j].to_f64()));
                        let r = fa.apply(a.clip(xrow[hs + j].to_f64() + hrow[hs + j].to_f64()));
                        rgate[b * hs + j] = r;
                        r_h[b * hs + j] = T::from_f64(r * h[b * hs + j].to_f64());
                    }
                }
                if !lbr {
                    gemm(batch, hs, hs, (&r_h, hs, 1), (rh, 1, hs), T::zero(), &mut rhr, hs, 1)?;
                }
                for b in 0..batch {
                    let Some(t) = u.time_index(s, b, rev) else { continue };
                    let xrow = &xw[(t * batch + b) * g3..(t * batch + b + 1) * g3];
                    let yrow = ((t * dirs + d) * batch + b) * hs;
                    for j in 0..hs {
                        let xh = xrow[2 * hs + j].to_f64();
                        let pre = if lbr {
                            xh + rgate[b * hs + j] * (hr[b * ncols + 2 * hs + j].to_f64() + rbh[j])
                        } else {
                            xh + rhr[b * hs + j].to_f64() + rbh[j]
                        };
                        let ht = ga.apply(a.clip(pre));
                        let zz = z[b * hs + j];
                        let hn = T::from_f64((1.0 - zz) * ht + zz * h[b * hs + j].to_f64());
                        h[b * hs + j] = hn;
                        y[yrow + j] = hn;
                    }
                }
            }
            yh.extend_from_slice(&h);
        }
        Ok(vec![y_output(y, &u, a.layout)?, state_output(yh, &u, a.layout)?])
    }
}

impl Gru {
    /// The f32 path: the input projection of all steps as one GEMM on the packed W, per step
    /// one or two small-M GEMMs on the packed R and vectorised gate kernels (no per-step
    /// allocation, no f64).
    #[allow(clippy::needless_range_loop)]
    fn compute_f32(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        use crate::simd::{self, BinFn};
        let a = &self.attrs;
        let u = Unpacked::<f32>::new("GRU", a, inputs, 3)?;
        let (batch, hs, dirs) = (u.batch, u.hidden, u.dirs);
        let g3 = 3 * hs;
        let lbr = self.linear_before_reset;
        let ncols = if lbr { g3 } else { 2 * hs };
        let owned;
        let pk = match self.packed.as_deref().filter(|p| p.fits(&u)) {
            Some(p) => p,
            None => {
                let parts: Vec<(usize, usize)> = Gru::r_parts(lbr).iter().map(|&(a, b)| (a * hs, b * hs)).collect();
                owned = PackedRnn::new(u.w, u.r, (dirs, g3, u.input, hs), &parts)?;
                &owned
            }
        };
        // The input projections first (large GEMMs, split inside), then the recurrence in
        // independent slices (directions × batch ranges).
        let xws = (0..dirs)
            .map(|d| {
                let bd = u.b_dir(d);
                let bias: Vec<f32> =
                    (0..g3).map(|j| (bd[j] + if j < 2 * hs { bd[g3 + j] } else { 0.0 }) as f32).collect();
                u.projection_f32(pk, d, &bias)
            })
            .collect::<Result<Vec<_>>>()?;
        let (y, [yh]) = run_slices(&u, u.seq * batch * g3 * hs, |d, b0, b1, y| {
            let nb = b1 - b0;
            let rev = a.direction.is_reverse(d);
            let (fa, ga) = (a.acts[d][0], a.acts[d][1]);
            let rbh: Vec<f32> = u.b_dir(d)[g3 + 2 * hs..].iter().map(|&v| v as f32).collect();
            let xw = &xws[d];
            let mut hr = vec![0f32; nb * ncols];
            let mut r_h = vec![0f32; nb * hs];
            let mut rhr = vec![0f32; nb * hs];
            let mut pre = vec![0f32; hs];
            let mut h = u.h0_dir(d)[b0 * hs..b1 * hs].to_vec();
            let fused = lbr && (fa, ga) == (Act::Sigmoid, Act::Tanh);
            let mut rows = Vec::with_capacity(nb);
            for s in 0..u.steps_of(b0, b1) {
                pk.step(d, 0, &h, nb, &mut hr)?;
                if fused {
                    rows.clear();
                    rows.extend((b0..b1).enumerate().filter_map(|(bl, b)| {
                        let t = u.time_index(s, b, rev)?;
                        Some(Row { local: bl, xw: (t * batch + b) * g3, y: (t * nb + bl) * hs })
                    }));
                    let bufs = StepBufs { gates: &hr, xw, c: &mut [], h: &mut h, y: &mut *y };
                    cell::step(Cell::GruLbr { rbh: &rbh }, hs, a.clip.map(|c| c as f32), &rows, bufs)?;
                    continue;
                }
                for (bl, b) in (b0..b1).enumerate() {
                    let Some(t) = u.time_index(s, b, rev) else { continue };
                    let zr = &mut hr[bl * ncols..bl * ncols + 2 * hs];
                    simd::binary_inplace(BinFn::Add, zr, &xw[(t * batch + b) * g3..(t * batch + b) * g3 + 2 * hs]);
                    fa.apply_f32(a.clip, zr);
                    if !lbr {
                        let r = &zr[hs..];
                        simd::binary(BinFn::Mul, r, &h[bl * hs..(bl + 1) * hs], &mut r_h[bl * hs..(bl + 1) * hs]);
                    }
                }
                if !lbr {
                    pk.step(d, 1, &r_h, nb, &mut rhr)?;
                }
                for (bl, b) in (b0..b1).enumerate() {
                    let Some(t) = u.time_index(s, b, rev) else { continue };
                    let xh = &xw[(t * batch + b) * g3 + 2 * hs..(t * batch + b + 1) * g3];
                    let row = &hr[bl * ncols..(bl + 1) * ncols];
                    let (z, r) = (&row[..hs], &row[hs..2 * hs]);
                    if lbr {
                        let hh = &row[2 * hs..];
                        for j in 0..hs {
                            pre[j] = xh[j] + r[j] * (hh[j] + rbh[j]);
                        }
                    } else {
                        let q = &rhr[bl * hs..(bl + 1) * hs];
                        for j in 0..hs {
                            pre[j] = xh[j] + q[j] + rbh[j];
                        }
                    }
                    ga.apply_f32(a.clip, &mut pre);
                    let hb = &mut h[bl * hs..(bl + 1) * hs];
                    for j in 0..hs {
                        hb[j] = (1.0 - z[j]) * pre[j] + z[j] * hb[j];
                    }
                    let yrow = (t * nb + bl) * hs;
                    y[yrow..yrow + hs].copy_from_slice(hb);
                }
            }
            Ok([h])
        })?;
        xws.into_iter().for_each(crate::memory::recycle);
        Ok(vec![y_output(y, &u, a.layout)?, state_output(yh, &u, a.layout)?])
    }
}

impl Op for Gru {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        with_float_type("GRU", inputs, |i| self.compute_f32(i), |i| self.compute::<f64>(i))
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(self.attrs.infer(inputs, 1))
    }
    fn prepare(&self, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        let lbr = self.linear_before_reset;
        let Some(p) = PackedRnn::from_consts(consts, 3, &Gru::r_parts(lbr))? else { return Ok(None) };
        Ok(Some(Arc::new(Gru { attrs: self.attrs.clone(), linear_before_reset: lbr, packed: Some(Arc::new(p)) })))
    }
}
