//! Dropout in inference mode: output = input, optional mask all true (bool from opset 10,
//! input-typed ones before). Opset 12+: `training_mode` true with a non-zero `ratio` is unsupported.

use crate::ops::util::same_as_input0;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Dropout {
    /// Mask dtype: bool from opset 10, the input's type before.
    pub bool_mask: bool,
    pub n_outputs: usize,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    // Opset < 7 `is_test`=0 is run as inference too (as other inference engines do).
    Ok(Arc::new(Dropout { bool_mask: cx.opset >= 10, n_outputs: cx.n_outputs }))
}

impl Op for Dropout {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Dropout")?;
        let training = match opt_input(inputs, 2) {
            Some(t) => t.to_i64_vec().first().copied().unwrap_or(0) != 0,
            None => false,
        };
        let ratio = match opt_input(inputs, 1) {
            Some(r) => r.to_f64_vec().first().copied().unwrap_or(0.5),
            None => 0.5,
        };
        if training && ratio != 0.0 {
            return Err(Error::Unsupported("Dropout in training mode (random masks)".into()));
        }
        let mut outs = vec![x.clone()];
        if self.n_outputs > 1 {
            let mask = if self.bool_mask {
                Tensor::full(DType::Bool, x.shape().to_vec(), 1.0)?
            } else {
                Tensor::full(x.dtype(), x.shape().to_vec(), 1.0)?
            };
            outs.push(mask);
        }
        Ok(outs)
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let mut v = same_as_input0(inputs);
        if let (Some(i), true) = (v.first().cloned(), self.n_outputs > 1) {
            v.push(ValueInfo::new("", if self.bool_mask { Some(DType::Bool) } else { i.dtype }, i.shape));
        }
        Ok(v)
    }
}
