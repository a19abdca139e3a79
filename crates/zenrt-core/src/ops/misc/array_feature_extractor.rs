//! ArrayFeatureExtractor (ai.onnx.ml): selects elements of the last axis of `X` by the int64
//! indices `Y` (flattened): output `[..., len(Y)]`; a 1-D `X` gives `[1, len(Y)]`.

use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, dispatch_all, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct ArrayFeatureExtractor;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ArrayFeatureExtractor))
}

impl Op for ArrayFeatureExtractor {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "ArrayFeatureExtractor")?;
        let idx = ints_of(input(inputs, 1, "ArrayFeatureExtractor")?)?;
        if x.rank() == 0 {
            bail!("ArrayFeatureExtractor: X must have rank >= 1");
        }
        let f = x.shape()[x.rank() - 1];
        let idx: Vec<usize> = idx
            .iter()
            .map(|&i| {
                if i < 0 || i as u64 >= f as u64 {
                    bail!("ArrayFeatureExtractor: index {i} is out of range for {f} features");
                }
                Ok(i as usize)
            })
            .collect::<Result<_>>()?;
        let rows = x.len() / f.max(1);
        let mut shape = if x.rank() == 1 { vec![1] } else { x.shape()[..x.rank() - 1].to_vec() };
        shape.push(idx.len());
        crate::checked_numel(&shape, x.dtype(), "ArrayFeatureExtractor output")?;
        let out = dispatch_all!(x.dtype(), T => {
            let xv = x.as_slice::<T>()?;
            let v: Vec<T> = (0..rows).flat_map(|r| idx.iter().map(move |&i| xv[r * f + i])).collect();
            Tensor::from_vec(shape, v)
        })?;
        Ok(vec![out])
    }
}
