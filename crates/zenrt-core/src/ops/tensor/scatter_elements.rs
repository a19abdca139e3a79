//! ScatterElements (and the deprecated Scatter): `out[index[i][j]][j] = updates[i][j]` (axis 0),
//! combining with `reduction` (opset 16+); negative indices count from the end.

use super::common::{axis_of, dtype_of, next_index, norm_index, offset, out, shape_of, Reduction};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, dispatch_all, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct ScatterElements {
    pub axis: i64,
    pub reduction: Reduction,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let reduction =
        if cx.op_type == "Scatter" { Reduction::None } else { Reduction::parse(&cx.string("reduction", "none")?)? };
    Ok(Arc::new(ScatterElements { axis: cx.int("axis", 0)?, reduction }))
}

fn scatter_typed<T: Elem>(x: &Tensor, offsets: &[usize], upd: &Tensor, red: Reduction) -> Result<Tensor> {
    let mut out = x.clone();
    let u = upd.as_slice::<T>()?;
    let o = out.as_mut_slice::<T>()?;
    for (&off, &v) in offsets.iter().zip(u) {
        o[off] = red.apply(o[off], v);
    }
    Ok(out)
}

impl Op for ScatterElements {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "ScatterElements")?;
        let ind = input(inputs, 1, "ScatterElements")?;
        let upd = input(inputs, 2, "ScatterElements")?;
        let r = x.rank();
        if r == 0 || ind.rank() != r || upd.shape() != ind.shape() || upd.dtype() != x.dtype() {
            bail!(
                "ScatterElements: data {:?}, indices {:?} and updates {:?} ({}) do not match",
                x.shape(),
                ind.shape(),
                upd.shape(),
                upd.dtype()
            );
        }
        let axis = axis_of(self.axis, r)?;
        for d in 0..r {
            if d != axis && ind.shape()[d] > x.shape()[d] {
                bail!("ScatterElements: indices {:?} larger than data {:?} off the axis", ind.shape(), x.shape());
            }
        }
        let ids = ints_of(ind)?;
        let strides = x.strides();
        let mut offsets = Vec::with_capacity(ids.len());
        let mut mi = vec![0usize; r];
        for &i in &ids {
            let mut m = mi.clone();
            m[axis] = norm_index(i, x.shape()[axis], "ScatterElements")?;
            offsets.push(offset(&m, &strides));
            next_index(&mut mi, ind.shape());
        }
        Ok(vec![dispatch_all!(x.dtype(), T => scatter_typed::<T>(x, &offsets, upd, self.reduction))?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(out(dtype_of(inputs, 0), shape_of(inputs, 0)))
    }
}
