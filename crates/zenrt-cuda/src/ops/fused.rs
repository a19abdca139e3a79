//! The optimizer's `com.zenrt` fused operators without a cuBLAS/cuDNN core:
//! - `FusedElementwise`: the chain becomes one generated kernel (source built from the steps and
//!   from how each input is read: same shape, scalar or broadcast), compiled by NVRTC once per
//!   signature and cached for the process ([`Gpu::jit`](crate::gpu::Gpu::jit)); shapes and
//!   strides are run-time arguments, so a signature serves every shape.
//! - `FusedAttention`: `softmax(Q·Kt·scale + mask)·V` as two cuBLAS batched GEMMs (the MatMul
//!   kernel, with its batch broadcasting) around one scale + mask + softmax kernel.

use super::{arg, broadcast_shape, broadcast_strides, dims, linalg, need_f32, Attrs, BResult, Cx, GpuOp, Val};
use std::fmt::Write;
use zenrt_core::ops::fused::fused_elementwise::{Binary, Unary};
use zenrt_core::{DType, Error, Result};

/// Inputs a generated elementwise kernel takes at most.
const MAX_INPUTS: usize = 8;

#[derive(Clone, Copy)]
enum Step {
    Unary(Unary),
    Binary { op: Binary, operand: usize, swap: bool },
}

pub(super) fn build_elementwise(a: &Attrs) -> BResult {
    let node = a.0;
    let ops: Vec<String> = match node.attrs.get("ops") {
        Some(zenrt_core::Attr::Strings(v)) => v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect(),
        _ => return Err("attribute ops (strings) is required".into()),
    };
    let operands = a.ints("operands")?.unwrap_or_default();
    let swap = a.ints("swap")?.unwrap_or_default();
    if operands.len() != ops.len() || swap.len() != ops.len() {
        return Err("ops, operands and swap must have the same length".into());
    }
    let n_in = a.n_inputs();
    if n_in == 0 || n_in > MAX_INPUTS {
        return Err(format!("{n_in} inputs (the CUDA kernel takes 1 to {MAX_INPUTS})"));
    }
    let mut steps = Vec::with_capacity(ops.len());
    for (k, op) in ops.iter().enumerate() {
        steps.push(if let Some(u) = Unary::parse(op) {
            Step::Unary(u)
        } else if let Some(b) = Binary::parse(op) {
            let operand = usize::try_from(operands[k])
                .ok()
                .filter(|&i| i < n_in)
                .ok_or_else(|| format!("step {k}: operand {} is not an input", operands[k]))?;
            Step::Binary { op: b, operand, swap: swap[k] != 0 }
        } else {
            return Err(format!("step {k}: unsupported operator {op:?}"));
        });
    }
    Ok(Box::new(FusedElementwise { steps, n_in }))
}

struct FusedElementwise {
    steps: Vec<Step>,
    n_in: usize,
}

/// How a generated kernel reads one input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Same shape as the output: element `i`.
    Same,
    /// One element.
    Scalar,
    /// Broadcast: offset from the (merged) output index and this input's strides.
    Strided(usize),
}

/// Kernel arguments: `struct FeArgs` of the generated source.
#[repr(C)]
#[derive(Clone, Copy)]
struct FeArgs {
    n: i64,
    rank: i64,
    shape: [i64; 8],
    st: [[i64; 8]; MAX_INPUTS],
    inp: [u64; MAX_INPUTS],
    y: u64,
}

fn unary_expr(u: Unary) -> &'static str {
    match u {
        Unary::Relu => "(v < 0.f ? 0.f : v)",
        Unary::Sigmoid => "1.f / (1.f + expf(-v))",
        Unary::Tanh => "tanhf(v)",
        Unary::Exp => "expf(v)",
        Unary::Log => "logf(v)",
        Unary::Sqrt => "sqrtf(v)",
        Unary::Neg => "-v",
        Unary::Abs => "fabsf(v)",
        Unary::Erf => "erff(v)",
        Unary::Reciprocal => "1.f / v",
    }
}

fn binary_op(b: Binary) -> char {
    match b {
        Binary::Add => '+',
        Binary::Sub => '-',
        Binary::Mul => '*',
        Binary::Div => '/',
    }
}

impl FusedElementwise {
    /// The kernel source for these steps and input reads (the cache key of `Gpu::jit`).
    fn source(&self, reads: &[Read]) -> String {
        let mut s = String::from(
            "typedef long long i64;\n\
             struct FeArgs { i64 n; i64 rank; i64 shape[8]; i64 st[8][8]; const real* in[8]; real* y; };\n\
             extern \"C\" __global__ void fused_ew(FeArgs p) {\n\
             for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (i64)blockDim.x * gridDim.x) {\n",
        );
        let strided: Vec<usize> =
            reads.iter().filter_map(|r| if let Read::Strided(k) = r { Some(*k) } else { None }).collect();
        if !strided.is_empty() {
            for k in &strided {
                let _ = writeln!(s, "i64 o{k} = 0;");
            }
            s.push_str(
                "{ i64 r = i; for (int k = (int)p.rank - 1; k >= 0; --k) { i64 q = r % p.shape[k]; r /= p.shape[k];",
            );
            for k in &strided {
                let _ = write!(s, " o{k} += q * p.st[{k}][k];");
            }
            s.push_str(" } }\n");
        }
        for (j, r) in reads.iter().enumerate() {
            let idx = match r {
                Read::Same => "i".to_string(),
                Read::Scalar => "0".to_string(),
                Read::Strided(k) => format!("o{k}"),
            };
            let _ = writeln!(s, "float x{j} = ld(p.in[{j}][{idx}]);");
        }
        s.push_str("float v = x0;\n");
        for st in &self.steps {
            match *st {
                Step::Unary(u) => {
                    let _ = writeln!(s, "v = {};", unary_expr(u));
                }
                Step::Binary { op, operand, swap } => {
                    let c = binary_op(op);
                    let _ =
                        if swap { writeln!(s, "v = x{operand} {c} v;") } else { writeln!(s, "v = v {c} x{operand};") };
                }
            }
        }
        s.push_str("p.y[i] = st(v);\n} }\n");
        s
    }
}

/// Merges adjacent axes along which every stride set is contiguous (fewer divisions per element).
fn merge_axes(shape: &[usize], strides: &mut [Vec<i64>]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut st: Vec<Vec<i64>> = vec![Vec::new(); strides.len()];
    for (ax, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable =
            !out.is_empty() && strides.iter().zip(&st).all(|(s, m)| m.last().copied() == Some(s[ax] * n as i64));
        if mergeable {
            let last = out.len() - 1;
            out[last] *= n;
            for (m, s) in st.iter_mut().zip(strides.iter()) {
                m[last] = s[ax];
            }
        } else {
            out.push(n);
            for (m, s) in st.iter_mut().zip(strides.iter()) {
                m.push(s[ax]);
            }
        }
    }
    for (s, m) in strides.iter_mut().zip(st) {
        *s = m;
    }
    out
}

impl GpuOp for FusedElementwise {
    fn layout(&self) -> super::Layout {
        super::Layout::Same
    }
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let vals: Vec<&Val> = (0..self.n_in).map(|i| arg(ins, i, "FusedElementwise")).collect::<Result<_>>()?;
        for v in &vals {
            need_f32(v, "FusedElementwise")?;
        }
        let shapes: Vec<&[usize]> = vals.iter().map(|v| v.shape()).collect();
        let shape = broadcast_shape(&shapes)?;
        let n: usize = shape.iter().product();
        let y = cx.gpu.empty(DType::F32, shape.clone())?;
        if n == 0 {
            return Ok(vec![Val::Dev(y)]);
        }
        let mut reads = Vec::with_capacity(vals.len());
        let mut strided: Vec<Vec<i64>> = Vec::new();
        for v in &vals {
            let numel: usize = v.shape().iter().product();
            reads.push(if v.shape() == shape.as_slice() {
                Read::Same
            } else if numel == 1 {
                Read::Scalar
            } else {
                strided.push(broadcast_strides(v.shape(), &shape)?);
                Read::Strided(strided.len() - 1)
            });
        }
        let merged = merge_axes(&shape, &mut strided);
        if merged.len() > 8 {
            return Err(Error::Unsupported(format!("FusedElementwise (CUDA): rank of {shape:?} above 8")));
        }
        let mut a = FeArgs {
            n: n as i64,
            rank: merged.len() as i64,
            shape: [1; 8],
            st: [[0; 8]; MAX_INPUTS],
            inp: [0; MAX_INPUTS],
            y: y.ptr(),
        };
        for (k, &d) in merged.iter().enumerate() {
            a.shape[k] = d as i64;
        }
        for (k, s) in strided.iter().enumerate() {
            a.st[k][..s.len()].copy_from_slice(s);
        }
        let devs: Vec<_> = vals.iter().map(|v| cx.dev(v)).collect::<Result<_>>()?;
        for (j, g) in devs.iter().enumerate() {
            a.inp[j] = g.ptr();
        }
        let f = cx.gpu.jit("fused_ew", &self.source(&reads))?;
        let (grid, block) = crate::gpu::grid_for(n, cx.gpu.sms());
        cx.gpu.launch_jit(f, grid, block, &[&a])?;
        Ok(vec![Val::Dev(y)])
    }
}

pub(super) fn build_attention(a: &Attrs) -> BResult {
    Ok(Box::new(FusedAttention { scale: a.float("scale", 1.0)? }))
}

struct FusedAttention {
    scale: f32,
}

impl GpuOp for FusedAttention {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let op = "FusedAttention";
        let (q, kt, v) = (arg(ins, 0, op)?, arg(ins, 1, op)?, arg(ins, 2, op)?);
        let scores = linalg::matmul(cx, q, kt)?;
        let shape = scores.shape().to_vec();
        let Some(&t) = shape.last() else {
            return Err(Error::Shape(format!("{op}: scores must have at least one dimension")));
        };
        let rows = scores.len().checked_div(t).unwrap_or(0);
        let (mask, d) = match ins.get(3).copied().flatten() {
            Some(m) => {
                need_f32(m, op)?;
                let st = broadcast_strides(m.shape(), &shape)?;
                (cx.dev(m)?.ptr(), dims(&shape, &st, &[], &[])?)
            }
            None => (0u64, dims(&[], &[], &[], &[])?),
        };
        if rows > 0 {
            let block = (t.div_ceil(32) * 32).clamp(32, 256) as u32;
            let grid = rows.min(cx.gpu.sms() as usize * 32) as u32;
            let args: [&dyn crate::gpu::KArg; 6] = [&(rows as i64), &(t as i64), &self.scale, &d, &mask, &scores.ptr()];
            cx.gpu.launch("attn_softmax_f32", grid, block, &args)?;
        }
        let probs = Val::Dev(scores);
        let out = linalg::matmul(cx, &probs, v)?;
        Ok(vec![Val::Dev(out)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_contiguous_axes() {
        // [2,3,4,5] with an input of [2,3,1,1] (SE scaling): two axes, strides (1, 0)
        let mut st = vec![broadcast_strides(&[2, 3, 1, 1], &[2, 3, 4, 5]).unwrap()];
        assert_eq!(merge_axes(&[2, 3, 4, 5], &mut st), vec![6, 20]);
        assert_eq!(st, vec![vec![1, 0]]);
        // a row vector against a matrix stays two axes; size-1 axes vanish
        let mut st = vec![broadcast_strides(&[5], &[1, 4, 5]).unwrap()];
        assert_eq!(merge_axes(&[1, 4, 5], &mut st), vec![4, 5]);
        assert_eq!(st, vec![vec![0, 1]]);
    }

    #[test]
    fn source_follows_the_chain() {
        let f = FusedElementwise {
            steps: vec![
                Step::Unary(Unary::Sigmoid),
                Step::Binary { op: Binary::Mul, operand: 1, swap: false },
                Step::Binary { op: Binary::Sub, operand: 2, swap: true },
            ],
            n_in: 3,
        };
        let s = f.source(&[Read::Same, Read::Strided(0), Read::Scalar]);
        assert!(s.contains("float x1 = ld(p.in[1][o0]);"), "{s}");
        assert!(s.contains("float x2 = ld(p.in[2][0]);"), "{s}");
        let body: Vec<&str> = s.lines().filter(|l| l.starts_with("v = ")).collect();
        assert_eq!(body, ["v = 1.f / (1.f + expf(-v));", "v = v * x1;", "v = x2 - v;"]);
    }
}
