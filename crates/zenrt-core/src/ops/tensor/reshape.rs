//! Reshape: new shape from the `shape` input (attribute before opset 5); 0 copies the input
//! dim (unless `allowzero`), -1 is inferred.

use super::common::{const_ints, dtype_of, known_dims, out, shape_of};
use crate::ops::util::ints_of;
use crate::ops::util::reshape_inplace;
use crate::ops::{input, BuildCtx, ExecCtx, InArg, InferInput, Op};
use crate::{bail, Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Reshape {
    /// Opset < 5: the target shape attribute.
    pub shape_attr: Option<Vec<i64>>,
    pub allowzero: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let shape_attr = if cx.opset < 5 { Some(cx.ints_opt("shape")?.unwrap_or_default()) } else { None };
    Ok(Arc::new(Reshape { shape_attr, allowzero: cx.int("allowzero", 0)? != 0 }))
}

/// The output shape for input shape `ins` and requested `spec`.
pub fn compute_shape(ins: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>> {
    let total: usize = ins.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer_at = None;
    for (i, &s) in spec.iter().enumerate() {
        if s == -1 {
            if infer_at.is_some() {
                bail!("Reshape: more than one -1 in shape {spec:?}");
            }
            infer_at = Some(i);
            out.push(1);
        } else if s == 0 && !allowzero {
            match ins.get(i) {
                Some(&d) => out.push(d),
                None => bail!("Reshape: 0 at position {i} copies a dim the input {ins:?} does not have"),
            }
        } else if s < 0 {
            bail!("Reshape: invalid dimension {s} in shape {spec:?}");
        } else {
            out.push(s as usize);
        }
    }
    let known = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let Some(known) = known else { bail!("Reshape: shape {spec:?} overflows") };
    if let Some(i) = infer_at {
        if known == 0 || !total.is_multiple_of(known) {
            bail!("Reshape: cannot infer -1 reshaping {ins:?} to {spec:?}");
        }
        out[i] = total / known;
    } else if known != total {
        bail!("Reshape: cannot reshape {ins:?} ({total} elements) to {spec:?} ({known} elements)");
    }
    Ok(out)
}

impl Reshape {
    fn new_shape(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<usize>> {
        let x = input(inputs, 0, "Reshape")?;
        let spec = match &self.shape_attr {
            Some(s) => s.clone(),
            None => ints_of(input(inputs, 1, "Reshape")?)?,
        };
        compute_shape(x.shape(), &spec, self.allowzero)
    }
}

impl Op for Reshape {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let shape = self.new_shape(inputs)?;
        Ok(vec![input(inputs, 0, "Reshape")?.clone().reshape(shape)?])
    }

    /// Moves the data instead of copying it when the input dies here.
    fn inplace_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn run_inplace(&self, _: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        reshape_inplace(inputs, "Reshape", |r| self.new_shape(r))
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dt = dtype_of(inputs, 0);
        let spec = match &self.shape_attr {
            Some(s) => Some(s.clone()),
            None => const_ints(inputs, 1),
        };
        let Some(spec) = spec else { return Ok(out(dt, None)) };
        let ins = shape_of(inputs, 0);
        if let Some(conc) = ins.as_ref().and_then(|s| {
            s.iter().map(|d| if let Dim::Known(n) = d { Some(*n) } else { None }).collect::<Option<Vec<_>>>()
        }) {
            return Ok(out(dt, compute_shape(&conc, &spec, self.allowzero).ok().map(|s| known_dims(&s))));
        }
        let dims = spec
            .iter()
            .enumerate()
            .map(|(i, &s)| match s {
                0 if !self.allowzero => ins.as_ref().and_then(|v| v.get(i).cloned()).unwrap_or(Dim::Unknown),
                s if s > 0 => Dim::Known(s as usize),
                0 => Dim::Known(0),
                _ => Dim::Unknown,
            })
            .collect();
        Ok(out(dt, Some(dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::compute_shape;

    #[test]
    fn zero_and_minus_one() {
        assert_eq!(compute_shape(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(compute_shape(&[2, 3, 4], &[4, 0, -1], false).unwrap(), vec![4, 3, 2]);
        assert_eq!(compute_shape(&[0, 3, 4], &[3, 4, 0], true).unwrap(), vec![3, 4, 0]);
        assert!(compute_shape(&[2, 3], &[-1, -1], false).is_err());
        assert!(compute_shape(&[2, 3], &[4, -1], false).is_err());
        assert!(compute_shape(&[2, 3], &[7], false).is_err());
    }
}
