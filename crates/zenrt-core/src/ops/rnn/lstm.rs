//! LSTM (ONNX semantics: gate order i, o, f, c; peepholes P = [p_i, p_o, p_f]; input_forget
//! couples f = 1 - i; sequence_lens, layout, clip and custom activations f, g, h).

use super::common::{gemm, state_input, state_output, with_float_type, y_output, RFloat, RnnAttrs, Unpacked};
use crate::ops::{opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Lstm {
    attrs: RnnAttrs,
    input_forget: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let attrs = RnnAttrs::parse(cx, &["Sigmoid", "Tanh", "Tanh"])?;
    let input_forget = cx.int("input_forget", 0)? != 0;
    Ok(Arc::new(Lstm { attrs, input_forget }))
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

impl Op for Lstm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        with_float_type("LSTM", inputs, |i| self.compute::<f32>(i), |i| self.compute::<f64>(i))
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(self.attrs.infer(inputs, 2))
    }
}
