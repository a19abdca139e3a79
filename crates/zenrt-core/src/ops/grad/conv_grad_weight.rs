//! `ConvGradWeight(dy, x, w_like)`: the gradient of `Conv(x, w)` with respect to `w` (shape of
//! `w_like`), with the Conv node's attributes. Per image and group:
//! `dW_g += dy_g · im2col(x_g)ᵀ` (GEMM with a transposed view of the column matrix).

use super::conv_grad_input::grad_operands;
use crate::ops::nn::common::{gemm, GemmElem, Window};
use crate::ops::nn::conv::{im2col, parse_group, ConvShape};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{checked_numel, ensure, DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct ConvGradWeight {
    pub win: Window,
    pub group: usize,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ConvGradWeight { win: Window::parse(cx, false)?, group: parse_group(cx)? }))
}

fn grad_weight<T: GemmElem>(dy: &[T], x: &[T], cs: &ConvShape) -> Result<Vec<T>> {
    let (g, cg, mg) = (cs.group, cs.c / cs.group, cs.m / cs.group);
    let in_size: usize = cs.in_sp.iter().product();
    let out_size: usize = cs.geo.out.iter().product();
    let kdim = cg * cs.geo.kernel_size();
    ensure!(dy.len() == cs.n * cs.m * out_size, "ConvGradWeight: gradient length mismatch");
    ensure!(x.len() == cs.n * cs.c * in_size, "ConvGradWeight: input length mismatch");
    let mut dw = vec![T::zero(); checked_numel(&[cs.m, kdim], T::DTYPE, "ConvGradWeight output")?];
    let mut col = vec![T::zero(); checked_numel(&[kdim, out_size], T::DTYPE, "ConvGradWeight columns")?];
    for n in 0..cs.n {
        for gi in 0..g {
            let xg = &x[(n * cs.c + gi * cg) * in_size..][..cg * in_size];
            im2col(xg, cg, &cs.in_sp, &cs.geo, &mut col);
            let dyg = &dy[(n * cs.m + gi * mg) * out_size..][..mg * out_size];
            let dwg = &mut dw[gi * mg * kdim..(gi + 1) * mg * kdim];
            // dW_g[mg × kdim] += dy_g[mg × out] · colᵀ[out × kdim]
            gemm(mg, out_size, kdim, (dyg, out_size, 1), (&col, 1, out_size), T::one(), dwg, kdim, 1)?;
        }
    }
    Ok(dw)
}

impl Op for ConvGradWeight {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let dy = input(inputs, 0, "ConvGradWeight")?;
        let x = input(inputs, 1, "ConvGradWeight")?;
        let w = input(inputs, 2, "ConvGradWeight")?;
        let (cs, dt) = grad_operands("ConvGradWeight", dy, x, w, &self.win, self.group)?;
        let out = match dt {
            DType::F32 => {
                Tensor::from_vec(w.shape().to_vec(), grad_weight::<f32>(dy.as_slice()?, x.as_slice()?, &cs)?)?
            }
            DType::F64 => {
                Tensor::from_vec(w.shape().to_vec(), grad_weight::<f64>(dy.as_slice()?, x.as_slice()?, &cs)?)?
            }
            other => return Err(Error::UnsupportedDType { op: "ConvGradWeight".into(), dtype: other }),
        };
        Ok(vec![out])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(inputs
            .get(2)
            .and_then(|i| i.info)
            .map(|i| vec![ValueInfo::new("", i.dtype, i.shape.clone())])
            .unwrap_or_default())
    }
}
