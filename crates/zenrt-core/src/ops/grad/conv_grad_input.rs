//! `ConvGradInput(dy, w, x_like)`: the gradient of `Conv(x, w)` with respect to `x` (shape of
//! `x_like`), with the Conv node's attributes (strides, pads, dilations, group, auto_pad).
//! Per image and group: `dcol = W_gᵀ · dy_g` (GEMM), then col2im scatter-adds the columns back
//! onto the input positions they were read from.

use crate::ops::nn::common::{gemm, unravel, walk_lines, GemmElem, Geometry, Window};
use crate::ops::nn::conv::{parse_group, ConvShape};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{checked_numel, ensure, DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct ConvGradInput {
    pub win: Window,
    pub group: usize,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ConvGradInput { win: Window::parse(cx, false)?, group: parse_group(cx)? }))
}

/// Checks a Conv gradient's operands: `dy` must have the shape of `Conv(x, w)`'s output and all
/// three one dtype. Returns the convolution's shape and that dtype.
pub(crate) fn grad_operands(
    op: &str,
    dy: &Tensor,
    x: &Tensor,
    w: &Tensor,
    win: &Window,
    group: usize,
) -> Result<(ConvShape, DType)> {
    let cs = ConvShape::new(x.shape(), w.shape(), win, group)?;
    ensure!(dy.shape() == cs.out_shape(), "{op}: gradient shape {:?}, expected {:?}", dy.shape(), cs.out_shape());
    let dt = x.dtype();
    ensure!(
        dy.dtype() == dt && w.dtype() == dt,
        "{op}: dtypes differ ({:?}, {:?}, {:?})",
        dy.dtype(),
        x.dtype(),
        w.dtype()
    );
    Ok((cs, dt))
}

/// Adds the `[cg * kernel_size, out_size]` column matrix `col` back onto the `cg` channel
/// planes of `x` (the adjoint of `im2col`, walking the same line segments).
pub fn col2im<T: GemmElem>(col: &[T], cg: usize, in_sp: &[usize], geo: &Geometry, x: &mut [T]) {
    let ksize = geo.kernel_size();
    let in_size: usize = in_sp.iter().product();
    let out_size: usize = geo.out.iter().product();
    let mut kidx = vec![0usize; geo.kernel.len()];
    for c in 0..cg {
        let xc = &mut x[c * in_size..(c + 1) * in_size];
        for kf in 0..ksize {
            unravel(kf, &geo.kernel, &mut kidx);
            let row = &col[(c * ksize + kf) * out_size..(c * ksize + kf + 1) * out_size];
            walk_lines(&geo.out, in_sp, geo, &kidx, |start, seg| {
                if let Some(s) = seg {
                    let src = &row[start + s.lo..start + s.hi];
                    if s.step == 1 {
                        for (d, &v) in xc[s.first..s.first + src.len()].iter_mut().zip(src) {
                            *d += v;
                        }
                    } else {
                        for (j, &v) in src.iter().enumerate() {
                            xc[s.first + j * s.step] += v;
                        }
                    }
                }
            });
        }
    }
}

fn grad_input<T: GemmElem>(dy: &[T], w: &[T], cs: &ConvShape) -> Result<Vec<T>> {
    let (g, cg, mg) = (cs.group, cs.c / cs.group, cs.m / cs.group);
    let in_size: usize = cs.in_sp.iter().product();
    let out_size: usize = cs.geo.out.iter().product();
    let kdim = cg * cs.geo.kernel_size();
    ensure!(dy.len() == cs.n * cs.m * out_size, "ConvGradInput: gradient length mismatch");
    ensure!(w.len() == cs.m * kdim, "ConvGradInput: weight length mismatch");
    let mut dx = vec![T::zero(); checked_numel(&[cs.n, cs.c, in_size], T::DTYPE, "ConvGradInput output")?];
    let mut dcol = vec![T::zero(); checked_numel(&[kdim, out_size], T::DTYPE, "ConvGradInput columns")?];
    for n in 0..cs.n {
        for gi in 0..g {
            let wg = &w[gi * mg * kdim..(gi + 1) * mg * kdim];
            let dyg = &dy[(n * cs.m + gi * mg) * out_size..][..mg * out_size];
            // dcol[kdim × out] = W_gᵀ[kdim × mg] · dy_g[mg × out]
            gemm(kdim, mg, out_size, (wg, 1, kdim), (dyg, out_size, 1), T::zero(), &mut dcol, out_size, 1)?;
            let dxg = &mut dx[(n * cs.c + gi * cg) * in_size..][..cg * in_size];
            col2im(&dcol, cg, &cs.in_sp, &cs.geo, dxg);
        }
    }
    Ok(dx)
}

impl Op for ConvGradInput {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let dy = input(inputs, 0, "ConvGradInput")?;
        let w = input(inputs, 1, "ConvGradInput")?;
        let x = input(inputs, 2, "ConvGradInput")?;
        let (cs, dt) = grad_operands("ConvGradInput", dy, x, w, &self.win, self.group)?;
        let out = match dt {
            DType::F32 => Tensor::from_vec(x.shape().to_vec(), grad_input::<f32>(dy.as_slice()?, w.as_slice()?, &cs)?)?,
            DType::F64 => Tensor::from_vec(x.shape().to_vec(), grad_input::<f64>(dy.as_slice()?, w.as_slice()?, &cs)?)?,
            other => return Err(Error::UnsupportedDType { op: "ConvGradInput".into(), dtype: other }),
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
