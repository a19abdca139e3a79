//! Col2Im: the inverse of im2col. `input` `[N, C * prod(block_shape), L]` holds sliding blocks
//! of an image of `image_shape`; overlapping values are summed into `[N, C, *image_shape]`.
//! Attributes dilations, pads (begin..., end...) and strides default to 1, 0 and 1.

use super::common::{check_alloc, dim_of};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, dispatch_numeric, Elem, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct Col2Im {
    dilations: Option<Vec<i64>>,
    pads: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Col2Im {
        dilations: cx.ints_opt("dilations")?,
        pads: cx.ints_opt("pads")?,
        strides: cx.ints_opt("strides")?,
    }))
}

struct Geometry {
    image: Vec<usize>,
    block: Vec<usize>,
    dil: Vec<usize>,
    pad_begin: Vec<usize>,
    stride: Vec<usize>,
    /// Number of block positions per axis.
    cols: Vec<usize>,
}

fn col2im_typed<T: Elem>(x: &Tensor, g: &Geometry, n: usize, c: usize) -> Result<Tensor> {
    let xv = x.as_slice::<T>()?;
    let r = g.image.len();
    let img: usize = g.image.iter().product();
    let kvol: usize = g.block.iter().product();
    let l: usize = g.cols.iter().product();
    let mut out = vec![0f64; n * c * img];
    let mut kidx = vec![0usize; r];
    let mut cidx = vec![0usize; r];
    for k in 0..kvol {
        let mut rem = k;
        for ax in (0..r).rev() {
            kidx[ax] = rem % g.block[ax];
            rem /= g.block[ax];
        }
        for col in 0..l {
            let mut rem = col;
            for ax in (0..r).rev() {
                cidx[ax] = rem % g.cols[ax];
                rem /= g.cols[ax];
            }
            let mut pos = 0usize;
            let mut inside = true;
            for ax in 0..r {
                let p = (cidx[ax] * g.stride[ax] + kidx[ax] * g.dil[ax]) as i64 - g.pad_begin[ax] as i64;
                if p < 0 || p as usize >= g.image[ax] {
                    inside = false;
                    break;
                }
                pos = pos * g.image[ax] + p as usize;
            }
            if !inside {
                continue;
            }
            for b in 0..n {
                for ch in 0..c {
                    out[(b * c + ch) * img + pos] += xv[(b * c * kvol + ch * kvol + k) * l + col].to_f64();
                }
            }
        }
    }
    let mut shape = vec![n, c];
    shape.extend_from_slice(&g.image);
    Tensor::from_vec(shape, out.into_iter().map(T::from_f64).collect())
}

impl Op for Col2Im {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Col2Im")?;
        let image = ints_of(input(inputs, 1, "Col2Im")?)?;
        let block = ints_of(input(inputs, 2, "Col2Im")?)?;
        let r = image.len();
        if r == 0 || block.len() != r {
            bail!("Col2Im: image_shape {image:?} and block_shape {block:?} must have the same non-zero length");
        }
        let image: Vec<usize> = image.iter().map(|&v| dim_of(v, "image_shape")).collect::<Result<_>>()?;
        let block: Vec<usize> = block.iter().map(|&v| dim_of(v, "block_shape")).collect::<Result<_>>()?;
        let get = |v: &Option<Vec<i64>>, len: usize, def: i64, name: &str| -> Result<Vec<usize>> {
            let v = v.clone().unwrap_or_else(|| vec![def; len]);
            if v.len() != len {
                bail!("Col2Im: {name} must have {len} values, got {v:?}");
            }
            v.iter().map(|&x| dim_of(x, name)).collect()
        };
        let dil = get(&self.dilations, r, 1, "dilations")?;
        let pads = get(&self.pads, 2 * r, 0, "pads")?;
        let stride = get(&self.strides, r, 1, "strides")?;
        if dil.contains(&0) || stride.contains(&0) || block.contains(&0) {
            bail!("Col2Im: dilations, strides and block_shape must be positive");
        }
        let mut cols = vec![];
        for ax in 0..r {
            let span = dil[ax] * (block[ax] - 1) + 1;
            let total = image[ax] + pads[ax] + pads[ax + r];
            if total < span {
                bail!("Col2Im: block does not fit the padded image along axis {ax}");
            }
            cols.push((total - span) / stride[ax] + 1);
        }
        let xs = x.shape();
        let kvol: usize = block.iter().product();
        let l: usize = cols.iter().product();
        if xs.len() != 3 || xs[1] % kvol != 0 || xs[2] != l {
            bail!("Col2Im: input shape {xs:?} does not match block volume {kvol} and {l} block positions");
        }
        let (n, c) = (xs[0], xs[1] / kvol);
        let mut shape = vec![n, c];
        shape.extend_from_slice(&image);
        check_alloc(&shape, "Col2Im output")?;
        let g = Geometry { image, block, dil, pad_begin: pads[..r].to_vec(), stride, cols };
        let out = dispatch_numeric!(x.dtype(), T => col2im_typed::<T>(x, &g, n, c)).map_err(|e| match e {
            Error::UnsupportedDType { dtype, .. } => Error::UnsupportedDType { op: "Col2Im".into(), dtype },
            e => e,
        })?;
        Ok(vec![out])
    }
}
