//! RNN (the plain Elman cell of ONNX: Ht = f(Xt·Wᵀ + Ht-1·Rᵀ + Wb + Rb); sequence_lens, layout,
//! clip and a custom activation f).

use super::common::{gemm, state_output, with_float_type, y_output, RFloat, RnnAttrs, Unpacked};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Rnn {
    attrs: RnnAttrs,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Rnn { attrs: RnnAttrs::parse(cx, &["Tanh"])? }))
}

impl Rnn {
    fn compute<T: RFloat>(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = &self.attrs;
        let u = Unpacked::<T>::new("RNN", a, inputs, 1)?;
        let (seq, batch, hs, dirs) = (u.seq, u.batch, u.hidden, u.dirs);
        let mut y = vec![T::zero(); seq * dirs * batch * hs];
        let mut yh = Vec::with_capacity(dirs * batch * hs);
        for d in 0..dirs {
            let rev = a.direction.is_reverse(d);
            let fa = a.acts[d][0];
            let bd = u.b_dir(d);
            let bias: Vec<f64> = (0..hs).map(|j| bd[j] + bd[hs + j]).collect();
            let xw = u.input_projection(d, hs, &bias)?;
            let rd = u.r_dir(d);
            let mut h = u.h0_dir(d);
            let mut hr = vec![T::zero(); batch * hs];
            for s in 0..u.steps() {
                gemm(batch, hs, hs, (&h, hs, 1), (rd, 1, hs), T::zero(), &mut hr, hs, 1)?;
                for b in 0..batch {
                    let Some(t) = u.time_index(s, b, rev) else { continue };
                    let xo = (t * batch + b) * hs;
                    let yrow = ((t * dirs + d) * batch + b) * hs;
                    for j in 0..hs {
                        let hn = T::from_f64(fa.apply(a.clip(xw[xo + j].to_f64() + hr[b * hs + j].to_f64())));
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

impl Op for Rnn {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        with_float_type("RNN", inputs, |i| self.compute::<f32>(i), |i| self.compute::<f64>(i))
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(self.attrs.infer(inputs, 1))
    }
}
