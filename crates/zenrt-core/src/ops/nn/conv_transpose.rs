//! ConvTranspose: GEMM (Wᵀ·X) followed by col2im scatter-add, with output_shape,
//! output_padding, auto_pad, groups and dilations.

use super::common::{compute_dtype, gemm, unravel, walk_lines, AutoPad, GemmElem, Geometry, Window};
use super::conv::parse_group;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{checked_numel, ensure, DType, Dim, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct ConvTranspose {
    pub win: Window,
    pub group: usize,
    pub output_padding: Option<Vec<i64>>,
    pub output_shape: Option<Vec<i64>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ConvTranspose {
        win: Window::parse(cx, false)?,
        group: parse_group(cx)?,
        output_padding: cx.ints_opt("output_padding")?,
        output_shape: cx.ints_opt("output_shape")?,
    }))
}

fn attr_vec(v: &Option<Vec<i64>>, n: usize, name: &str, default: usize) -> Result<Vec<usize>> {
    match v {
        None => Ok(vec![default; n]),
        Some(v) => {
            ensure!(v.len() == n, "ConvTranspose: {name} has {} values, expected {n}", v.len());
            v.iter()
                .map(|&x| {
                    usize::try_from(x)
                        .map_err(|_| Error::Attr { attr: name.into(), msg: format!("negative value {x}") })
                })
                .collect()
        }
    }
}

impl ConvTranspose {
    /// Geometry where `out` is the transposed conv's output spatial shape.
    fn geometry(&self, in_sp: &[usize], kernel_w: &[usize]) -> Result<Geometry> {
        let r = in_sp.len();
        let kernel = self.win.kernel(r, Some(kernel_w))?;
        ensure!(kernel == kernel_w, "ConvTranspose: kernel_shape {kernel:?} differs from the weight's {kernel_w:?}");
        let strides = attr_vec(&self.win.strides, r, "strides", 1)?;
        let dilations = attr_vec(&self.win.dilations, r, "dilations", 1)?;
        ensure!(strides.iter().chain(&dilations).all(|&v| v >= 1), "ConvTranspose: strides and dilations must be >= 1");
        let out_pad = attr_vec(&self.output_padding, r, "output_padding", 0)?;
        let mut pads_begin = vec![0; r];
        let mut pads_end = vec![0; r];
        let mut out = vec![0; r];
        // Full (unpadded) extent of the scatter.
        let full: Vec<usize> = (0..r)
            .map(|d| strides[d] * (in_sp[d].max(1) - 1) + out_pad[d] + (kernel[d] - 1) * dilations[d] + 1)
            .collect();
        let target: Option<Vec<usize>> = match &self.output_shape {
            Some(os) => {
                let os = if os.len() == r + 2 { &os[2..] } else { &os[..] };
                Some(attr_vec(&Some(os.to_vec()), r, "output_shape", 0)?)
            }
            None if matches!(self.win.auto_pad, AutoPad::SameUpper | AutoPad::SameLower) => {
                Some((0..r).map(|d| in_sp[d] * strides[d]).collect())
            }
            None => None,
        };
        match target {
            Some(t) => {
                for d in 0..r {
                    // Negative totals extend the output past the scatter's extent.
                    let total = full[d] as i64 - t[d] as i64;
                    let half = total.div_euclid(2);
                    let (b, e) = if self.win.auto_pad == AutoPad::SameUpper {
                        (half, total - half)
                    } else {
                        (total - half, half)
                    };
                    pads_begin[d] = b;
                    pads_end[d] = e;
                    out[d] = t[d];
                }
            }
            None => {
                if self.win.auto_pad == AutoPad::NotSet {
                    if let Some(p) = &self.win.pads {
                        let p = attr_vec(&Some(p.clone()), 2 * r, "pads", 0)?;
                        for d in 0..r {
                            pads_begin[d] = p[d] as i64;
                            pads_end[d] = p[r + d] as i64;
                        }
                    }
                }
                for d in 0..r {
                    let o = full[d] as i64 - pads_begin[d] - pads_end[d];
                    ensure!(o >= 0, "ConvTranspose: pads exceed the output size");
                    out[d] = o as usize;
                }
            }
        }
        Ok(Geometry { kernel, strides, dilations, pads_begin, pads_end, out })
    }

    fn run_typed<T: GemmElem>(
        &self,
        x: &[T],
        xs: &[usize],
        w: &[T],
        ws: &[usize],
        b: Option<&[T]>,
    ) -> Result<(Vec<usize>, Vec<T>)> {
        ensure!(xs.len() >= 3, "ConvTranspose: input must be [N, C, D1, ...], got {xs:?}");
        ensure!(ws.len() == xs.len(), "ConvTranspose: weight shape {ws:?} does not match input {xs:?}");
        let (n, c, g) = (xs[0], xs[1], self.group);
        ensure!(ws[0] == c && c % g == 0, "ConvTranspose: weight {ws:?} does not fit {c} input channels and group {g}");
        let (cg, mg) = (c / g, ws[1]);
        let m = mg * g;
        let in_sp = &xs[2..];
        let geo = self.geometry(in_sp, &ws[2..])?;
        let mut out_shape = vec![n, m];
        out_shape.extend(&geo.out);
        let total = checked_numel(&out_shape, T::DTYPE, "ConvTranspose output")?;
        let in_size: usize = in_sp.iter().product();
        let out_size: usize = geo.out.iter().product();
        let ksize = geo.kernel_size();
        ensure!(x.len() == n * c * in_size && w.len() == c * mg * ksize, "ConvTranspose: data length mismatch");
        let mut y = vec![T::zero(); total];
        if let Some(b) = b {
            ensure!(b.len() == m, "ConvTranspose: bias has {} values, expected {m}", b.len());
            for (i, plane) in y.chunks_mut(out_size.max(1)).enumerate().take(n * m) {
                plane.fill(b[i % m]);
            }
        }
        if total == 0 || in_size == 0 {
            return Ok((out_shape, y));
        }
        let rows = mg * ksize;
        let mut col = vec![T::zero(); checked_numel(&[rows, in_size], T::DTYPE, "ConvTranspose column buffer")?];
        let mut kidx = vec![0usize; geo.kernel.len()];
        for ni in 0..n {
            for gi in 0..g {
                let xg = &x[(ni * c + gi * cg) * in_size..][..cg * in_size];
                let wg = &w[gi * cg * rows..(gi + 1) * cg * rows];
                // col[rows × in_size] = W_gᵀ · X_g
                gemm(rows, cg, in_size, (wg, 1, rows), (xg, in_size, 1), T::zero(), &mut col, in_size, 1)?;
                for mo in 0..mg {
                    let yp = &mut y[(ni * m + gi * mg + mo) * out_size..][..out_size];
                    for kf in 0..ksize {
                        unravel(kf, &geo.kernel, &mut kidx);
                        let row = &col[(mo * ksize + kf) * in_size..][..in_size];
                        walk_lines(in_sp, &geo.out, &geo, &kidx, |start, seg| {
                            if let Some(s) = seg {
                                let src = &row[start + s.lo..start + s.hi];
                                for (j, &v) in src.iter().enumerate() {
                                    yp[s.first + j * s.step] += v;
                                }
                            }
                        });
                    }
                }
            }
        }
        Ok((out_shape, y))
    }
}

impl Op for ConvTranspose {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "ConvTranspose")?;
        let w = input(inputs, 1, "ConvTranspose")?;
        let b = opt_input(inputs, 2);
        let dt = x.dtype();
        ensure!(w.dtype() == dt, "ConvTranspose: weight dtype {} differs from input dtype {dt}", w.dtype());
        let ct = compute_dtype(dt)?;
        let (xc, wc, bc) = (x.cast(ct)?, w.cast(ct)?, b.map(|b| b.cast(ct)).transpose()?);
        let out = if ct == DType::F64 {
            let bs = bc.as_ref().map(|b| b.as_slice::<f64>()).transpose()?;
            let (s, v) = self.run_typed::<f64>(xc.as_slice()?, x.shape(), wc.as_slice()?, w.shape(), bs)?;
            Tensor::from_vec(s, v)?
        } else {
            let bs = bc.as_ref().map(|b| b.as_slice::<f32>()).transpose()?;
            let (s, v) = self.run_typed::<f32>(xc.as_slice()?, x.shape(), wc.as_slice()?, w.shape(), bs)?;
            Tensor::from_vec(s, v)?.cast(dt)?
        };
        Ok(vec![out])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let (Some(x), Some(w)) = (inputs.first().and_then(|i| i.info), inputs.get(1).and_then(|i| i.info)) else {
            return Ok(vec![]);
        };
        let (Some(xs), Some(ws)) = (&x.shape, &w.shape) else {
            return Ok(vec![ValueInfo::new("", x.dtype, None)]);
        };
        if xs.len() < 3 || ws.len() != xs.len() {
            return Ok(vec![ValueInfo::new("", x.dtype, None)]);
        }
        let m = match &ws[1] {
            Dim::Known(v) => Dim::Known(v * self.group),
            _ => Dim::Unknown,
        };
        let known = |s: &[Dim]| -> Option<Vec<usize>> {
            s.iter().map(|d| if let Dim::Known(n) = d { Some(*n) } else { None }).collect()
        };
        let sp = match (known(&xs[2..]), known(&ws[2..])) {
            (Some(i), Some(k)) => match self.geometry(&i, &k) {
                Ok(g) => g.out.into_iter().map(Dim::Known).collect(),
                Err(_) => vec![Dim::Unknown; xs.len() - 2],
            },
            _ => vec![Dim::Unknown; xs.len() - 2],
        };
        let mut shape = vec![xs[0].clone(), m];
        shape.extend(sp);
        Ok(vec![ValueInfo::new("", x.dtype, Some(shape))])
    }
}
