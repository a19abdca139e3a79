//! MaxUnpool: scatters pooled values back to the positions recorded by MaxPool's Indices.

use super::common::nc_spatial;
use crate::ops::util::ints_of;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, checked_numel, dispatch_all, ensure, strides_of, Elem, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct MaxUnpool {
    pub kernel: Vec<usize>,
    pub strides: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let k = cx
        .ints_opt("kernel_shape")?
        .ok_or_else(|| Error::Attr { attr: "kernel_shape".into(), msg: "required".into() })?;
    ensure!(k.iter().all(|&v| v >= 1), "MaxUnpool: kernel_shape must be positive");
    Ok(Arc::new(MaxUnpool {
        kernel: k.iter().map(|&v| v as usize).collect(),
        strides: cx.ints_opt("strides")?,
        pads: cx.ints_opt("pads")?,
    }))
}

impl MaxUnpool {
    fn inferred(&self, xs: &[usize]) -> Result<Vec<usize>> {
        let (n, c, sp) = nc_spatial(xs, "MaxUnpool", 3)?;
        let r = sp.len();
        ensure!(self.kernel.len() == r, "MaxUnpool: kernel_shape has {} dims, input has {r}", self.kernel.len());
        let strides = self.strides.clone().unwrap_or_else(|| vec![1; r]);
        let pads = self.pads.clone().unwrap_or_else(|| vec![0; 2 * r]);
        ensure!(strides.len() == r && pads.len() == 2 * r, "MaxUnpool: strides/pads have the wrong length");
        let mut out = vec![n, c];
        for d in 0..r {
            let v = (sp[d] as i64 - 1) * strides[d] - pads[d] - pads[r + d] + self.kernel[d] as i64;
            ensure!(v >= 0 && strides[d] >= 1, "MaxUnpool: invalid output size {v} on axis {d}");
            out.push(v as usize);
        }
        Ok(out)
    }

    fn run_typed<T: Elem>(&self, x: &Tensor, idx: &[i64], shape: Vec<usize>) -> Result<Tensor> {
        let inferred = self.inferred(x.shape())?;
        let n = checked_numel(&inferred, T::DTYPE, "MaxUnpool output")?;
        let mut y = vec![T::zero(); n];
        for (&i, &v) in idx.iter().zip(x.as_slice::<T>()?) {
            if i < 0 || i as usize >= n {
                bail!("MaxUnpool: index {i} is out of range for output of {n} elements");
            }
            y[i as usize] = v;
        }
        if shape == inferred {
            return Tensor::from_vec(shape, y);
        }
        // Place the inferred-shape result at the origin of the requested shape.
        ensure!(shape.len() == inferred.len(), "MaxUnpool: output_shape {shape:?} has the wrong rank");
        let total = checked_numel(&shape, T::DTYPE, "MaxUnpool output")?;
        let mut out = vec![T::zero(); total];
        let so = strides_of(&shape);
        let mut pos = vec![0; inferred.len()];
        'outer: for (flat, &v) in y.iter().enumerate() {
            super::common::unravel(flat, &inferred, &mut pos);
            let mut off = 0;
            for d in 0..pos.len() {
                if pos[d] >= shape[d] {
                    continue 'outer;
                }
                off += pos[d] * so[d];
            }
            out[off] = v;
        }
        Tensor::from_vec(shape, out)
    }
}

impl Op for MaxUnpool {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "MaxUnpool")?;
        let i = input(inputs, 1, "MaxUnpool")?;
        ensure!(i.shape() == x.shape(), "MaxUnpool: indices shape {:?} differs from input {:?}", i.shape(), x.shape());
        let idx = ints_of(i)?;
        let shape = match opt_input(inputs, 2) {
            Some(s) => ints_of(s)?
                .iter()
                .map(|&v| {
                    usize::try_from(v).map_err(|_| Error::Invalid(format!("MaxUnpool: negative output_shape {v}")))
                })
                .collect::<Result<Vec<_>>>()?,
            None => self.inferred(x.shape())?,
        };
        Ok(vec![dispatch_all!(x.dtype(), T => self.run_typed::<T>(x, &idx, shape.clone()))?])
    }
}
