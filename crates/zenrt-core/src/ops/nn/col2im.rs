//! Col2Im: rearranges `[N, C·∏block, L]` column blocks into an `[N, C, image...]` image,
//! summing overlapping values (inverse of im2col).

use super::common::{from_f64_vec, unravel, walk_lines, AutoPad, Window};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{checked_numel, ensure, DType, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct Col2Im {
    pub strides: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub dilations: Option<Vec<i64>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Col2Im {
        strides: cx.ints_opt("strides")?,
        pads: cx.ints_opt("pads")?,
        dilations: cx.ints_opt("dilations")?,
    }))
}

impl Op for Col2Im {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Col2Im")?;
        let to_usize = |v: Vec<i64>, what: &str| -> Result<Vec<usize>> {
            ensure!(v.iter().all(|&d| d >= 1), "Col2Im: {what} must be positive, got {v:?}");
            Ok(v.into_iter().map(|d| d as usize).collect())
        };
        let image = to_usize(ints_of(input(inputs, 1, "Col2Im")?)?, "image_shape")?;
        let block = to_usize(ints_of(input(inputs, 2, "Col2Im")?)?, "block_shape")?;
        ensure!(image.len() == block.len(), "Col2Im: image_shape and block_shape differ in length");
        ensure!(x.rank() == 3, "Col2Im: input must be [N, C*prod(block), L], got {:?}", x.shape());
        let bsize: usize = block.iter().product();
        let (n, cb, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        ensure!(cb % bsize == 0, "Col2Im: {cb} is not divisible by the block size {bsize}");
        let c = cb / bsize;
        let win = Window {
            kernel_shape: Some(block.iter().map(|&b| b as i64).collect()),
            strides: self.strides.clone(),
            dilations: self.dilations.clone(),
            pads: self.pads.clone(),
            auto_pad: AutoPad::NotSet,
            ceil_mode: false,
        };
        let geo = win.resolve(&image, None)?;
        let blocks: usize = geo.out.iter().product();
        ensure!(blocks == l, "Col2Im: input has {l} blocks but the geometry gives {blocks} ({:?})", geo.out);
        let mut out_shape = vec![n, c];
        out_shape.extend(&image);
        let total = checked_numel(&out_shape, DType::F64, "Col2Im output")?;
        let plane: usize = image.iter().product();
        let xv = super::common::float_vec(x, "Col2Im")?;
        let mut y = vec![0.0; total];
        let mut kidx = vec![0; block.len()];
        for ni in 0..n {
            for ci in 0..c {
                let yp = &mut y[(ni * c + ci) * plane..(ni * c + ci + 1) * plane];
                for kf in 0..bsize {
                    unravel(kf, &block, &mut kidx);
                    let row = &xv[((ni * c + ci) * bsize + kf) * l..][..l];
                    walk_lines(&geo.out, &image, &geo, &kidx, |start, seg| {
                        if let Some(s) = seg {
                            for (j, &v) in row[start + s.lo..start + s.hi].iter().enumerate() {
                                yp[s.first + j * s.step] += v;
                            }
                        }
                    });
                }
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), out_shape, y)?])
    }
}
