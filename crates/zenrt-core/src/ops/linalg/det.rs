//! Det: determinant of each square matrix in the trailing two axes (`[*, M, M]` → `[*]`),
//! by LU decomposition with partial pivoting in f64.

use super::common::tensor_from_f64;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct Det;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Det))
}

/// Determinant of the row-major `n × n` matrix `a` (consumed as scratch space).
pub fn det(a: &mut [f64], n: usize) -> f64 {
    let mut d = 1.0;
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i * n + c].abs().total_cmp(&a[j * n + c].abs())).unwrap_or(c);
        if a[p * n + c] == 0.0 {
            return 0.0;
        }
        if p != c {
            for k in 0..n {
                a.swap(p * n + k, c * n + k);
            }
            d = -d;
        }
        let piv = a[c * n + c];
        d *= piv;
        for r in c + 1..n {
            let f = a[r * n + c] / piv;
            if f != 0.0 {
                for k in c..n {
                    a[r * n + k] -= f * a[c * n + k];
                }
            }
        }
    }
    d
}

impl Op for Det {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Det")?;
        if !x.dtype().is_float() {
            return Err(Error::UnsupportedDType { op: "Det".into(), dtype: x.dtype() });
        }
        let s = x.shape();
        if s.len() < 2 || s[s.len() - 1] != s[s.len() - 2] {
            return Err(Error::Shape(format!("Det: input must be [*, M, M], got {s:?}")));
        }
        let n = s[s.len() - 1];
        let v = x.to_f64_vec();
        let out: Vec<f64> = if n == 0 {
            vec![1.0; s[..s.len() - 2].iter().product()]
        } else {
            v.chunks(n * n).map(|m| det(&mut m.to_vec(), n)).collect()
        };
        Ok(vec![tensor_from_f64(x.dtype(), s[..s.len() - 2].to_vec(), out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn det_3x3_with_pivot() {
        let mut a = vec![0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];
        // 0*(1-0) - 2*(1-0) + 1*(0-3) = -5
        assert!((det(&mut a, 3) + 5.0).abs() < 1e-12);
    }
}
