//! Softmax / LogSoftmax, LayerNormalization and the Reduce* family.

use super::{arg, need_f32, norm_axis, Attrs, BResult, Cx, GpuOp, Val};
use zenrt_core::{DType, Error, Result};

pub(super) fn build_softmax(a: &Attrs, op: &str) -> BResult {
    // Opset < 13 flattens to 2-D at `axis` (default 1); the built CPU operator records which.
    let legacy = format!("{:?}", a.0.op).contains("coerce_2d: true");
    let axis = a.int("axis", if legacy { 1 } else { -1 })?;
    Ok(Box::new(Softmax { axis, legacy, log: op == "LogSoftmax" }))
}

struct Softmax {
    axis: i64,
    legacy: bool,
    log: bool,
}

impl GpuOp for Softmax {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Softmax")?;
        need_f32(x, "Softmax")?;
        let s = x.shape().to_vec();
        if s.is_empty() {
            return Err(Error::Shape("Softmax of a scalar".into()));
        }
        let ax = norm_axis(self.axis, s.len(), "Softmax")?;
        let (outer, r, inner) = if self.legacy {
            (s[..ax].iter().product::<usize>(), s[ax..].iter().product::<usize>(), 1usize)
        } else {
            (s[..ax].iter().product::<usize>(), s[ax], s[ax + 1..].iter().product::<usize>())
        };
        let gx = cx.dev(x)?;
        let y = cx.gpu.empty(DType::F32, s)?;
        let rows = outer * inner;
        if rows > 0 && r > 0 {
            let block = if r >= 1024 {
                512
            } else if r >= 256 {
                256
            } else if r >= 64 {
                64
            } else {
                32
            };
            let mode = self.log as i32;
            cx.gpu.launch(
                "softmax_f32",
                rows.min(1 << 20) as u32,
                block,
                &[&(outer as i64), &(r as i64), &(inner as i64), &mode, &gx.ptr(), &y.ptr()],
            )?;
        }
        Ok(vec![Val::Dev(y)])
    }
}

pub(super) fn build_layernorm(a: &Attrs) -> BResult {
    if a.0.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("the Mean / InvStdDev outputs have no CUDA kernel".into());
    }
    Ok(Box::new(LayerNorm { axis: a.int("axis", -1)?, eps: a.float("epsilon", 1e-5)? }))
}

struct LayerNorm {
    axis: i64,
    eps: f32,
}

impl GpuOp for LayerNorm {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "LayerNormalization")?;
        let g = arg(ins, 1, "LayerNormalization")?;
        need_f32(x, "LayerNormalization")?;
        need_f32(g, "LayerNormalization")?;
        let s = x.shape().to_vec();
        let ax = norm_axis(self.axis, s.len(), "LayerNormalization")?;
        let rows: usize = s[..ax].iter().product();
        let r: usize = s[ax..].iter().product();
        let check = |v: &Val| -> Result<()> {
            if v.shape().iter().product::<usize>() != r {
                return Err(Error::Unsupported(format!(
                    "CUDA LayerNormalization: parameter {:?} must have the normalized size {r} (no broadcasting)",
                    v.shape()
                )));
            }
            Ok(())
        };
        check(g)?;
        let gg = cx.dev(g)?;
        let gb = match ins.get(2).copied().flatten() {
            Some(b) => {
                need_f32(b, "LayerNormalization")?;
                check(b)?;
                Some(cx.dev(b)?)
            }
            None => None,
        };
        let gx = cx.dev(x)?;
        let y = cx.gpu.empty(DType::F32, s)?;
        if rows > 0 && r > 0 {
            let block = if r >= 1024 {
                512
            } else if r >= 256 {
                256
            } else {
                64
            };
            let bp = gb.as_ref().map(|b| b.ptr()).unwrap_or(0);
            cx.gpu.launch(
                "layernorm_f32",
                rows.min(1 << 20) as u32,
                block,
                &[&(rows as i64), &(r as i64), &self.eps, &gx.ptr(), &gg.ptr(), &bp, &y.ptr()],
            )?;
        }
        Ok(vec![Val::Dev(y)])
    }
}

pub(super) fn build_reduce(a: &Attrs, op: &str) -> BResult {
    let code = match op {
        "ReduceSum" => 0,
        "ReduceMean" => 1,
        "ReduceMax" => 2,
        "ReduceMin" => 3,
        "ReduceProd" => 4,
        "ReduceSumSquare" => 5,
        "ReduceL2" => 6,
        "ReduceL1" => 7,
        _ => 8,
    };
    Ok(Box::new(Reduce {
        code,
        axes: a.ints("axes")?,
        keepdims: a.int("keepdims", 1)? != 0,
        noop_empty: a.int("noop_with_empty_axes", 0)? != 0,
    }))
}

struct Reduce {
    code: i32,
    axes: Option<Vec<i64>>,
    keepdims: bool,
    noop_empty: bool,
}

impl GpuOp for Reduce {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Reduce")?;
        need_f32(x, "Reduce")?;
        let s = x.shape().to_vec();
        let axes: Vec<i64> = match (ins.get(1).copied().flatten(), &self.axes) {
            (Some(v), _) => cx.host(v)?.to_i64_vec(),
            (None, Some(a)) => a.clone(),
            (None, None) => vec![],
        };
        let gx = cx.dev(x)?;
        if (axes.is_empty() && self.noop_empty) || s.is_empty() {
            return Ok(vec![Val::Dev(gx)]);
        }
        let mut ax: Vec<usize> = if axes.is_empty() {
            (0..s.len()).collect()
        } else {
            axes.iter().map(|&a| norm_axis(a, s.len(), "Reduce")).collect::<Result<_>>()?
        };
        ax.sort_unstable();
        ax.dedup();
        let (lo, hi) = (ax[0], ax[ax.len() - 1]);
        if hi - lo + 1 != ax.len() {
            return Err(Error::Unsupported(format!("CUDA Reduce over non-adjacent axes {ax:?}")));
        }
        let outer: usize = s[..lo].iter().product();
        let r: usize = s[lo..=hi].iter().product();
        let inner: usize = s[hi + 1..].iter().product();
        let mut out = Vec::new();
        for (i, &d) in s.iter().enumerate() {
            if i < lo || i > hi {
                out.push(d);
            } else if self.keepdims {
                out.push(1);
            }
        }
        let y = cx.gpu.empty(DType::F32, out)?;
        let n = outer * inner;
        cx.gpu.launch_n(
            "reduce_f32",
            n,
            &[&(outer as i64), &(r as i64), &(inner as i64), &self.code, &gx.ptr(), &y.ptr()],
        )?;
        Ok(vec![Val::Dev(y)])
    }
}
