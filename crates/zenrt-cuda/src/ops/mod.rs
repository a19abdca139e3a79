//! GPU kernels for ONNX operators: one builder per operator type turns a graph node into a
//! [`GpuOp`] at plan time (attributes parsed once); `run` launches work on the session's stream.

mod conv;
mod elementwise;
mod fused;
mod linalg;
mod nn;
mod rnn;
mod shape;

pub(crate) use shape::NoSubgraphs;

use crate::gpu::{GTensor, Gpu};
use std::sync::Arc;
use zenrt_core::{Attr, DType, Error, Node, Result, Tensor};

/// A value during a GPU run: on the device, or a host tensor (constants, shape arithmetic) with
/// its device copy when one was made (constants are uploaded once at session creation).
#[derive(Clone)]
pub enum Val {
    Host(Arc<Tensor>, Option<GTensor>),
    Dev(GTensor),
}

impl Val {
    pub fn shape(&self) -> &[usize] {
        match self {
            Val::Host(t, _) => t.shape(),
            Val::Dev(g) => g.shape(),
        }
    }
    pub fn dtype(&self) -> DType {
        match self {
            Val::Host(t, _) => t.dtype(),
            Val::Dev(g) => g.dtype(),
        }
    }
}

/// What a kernel gets at run time.
pub struct Cx<'a> {
    pub gpu: &'a Gpu,
    /// Channels-last run (`exec::Nhwc`): 4-D convolutions store their outputs NHWC.
    pub nhwc: bool,
}

impl Cx<'_> {
    /// The value on the device (uploading host values that have no device copy).
    pub fn dev(&self, v: &Val) -> Result<GTensor> {
        match v {
            Val::Dev(g) => Ok(g.clone()),
            Val::Host(_, Some(g)) => Ok(g.clone()),
            Val::Host(t, None) => self.gpu.upload(t),
        }
    }
    /// The value on the host (downloading device values: a synchronisation).
    pub fn host(&self, v: &Val) -> Result<Arc<Tensor>> {
        match v {
            Val::Host(t, _) => Ok(t.clone()),
            Val::Dev(g) => Ok(Arc::new(self.gpu.download(g)?)),
        }
    }
}

/// A GPU implementation of one node.
pub trait GpuOp: Send + Sync {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>>;
    /// Which input layouts the kernel takes (the executor converts channels-last inputs to NCHW
    /// before a kernel that takes only NCHW).
    fn layout(&self) -> Layout {
        Layout::Nchw
    }
}

/// How a kernel treats channels-last (NHWC) device inputs (`GTensor::nhwc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Needs every input in NCHW.
    Nchw,
    /// Reads each input's layout itself (convolution, pooling, aliases).
    Any,
    /// Elementwise: where every input is NHWC of one shape or a single element, runs on the
    /// memory as it is and its outputs are NHWC too; otherwise needs NCHW.
    Same,
}

/// `src` (4-D, float) in the asked layout: itself, or a transposed copy.
pub(crate) fn to_layout(gpu: &Gpu, src: &GTensor, nhwc: bool) -> Result<GTensor> {
    if src.nhwc == nhwc {
        return Ok(src.clone());
    }
    let mut y = gpu.empty(src.dtype, src.shape.clone())?;
    y.nhwc = nhwc;
    relayout_into(gpu, src, &y)?;
    Ok(y)
}

/// Copies 4-D `src` into `dst` (same logical shape) converting between NCHW and NHWC as their
/// flags say.
pub(crate) fn relayout_into(gpu: &Gpu, src: &GTensor, dst: &GTensor) -> Result<()> {
    let s = src.shape();
    if s.len() != 4 || dst.shape() != s || src.dtype != dst.dtype || src.dtype != DType::F32 {
        return Err(Error::Shape(format!("layout change of {s:?} {} into {:?}", src.dtype, dst.shape())));
    }
    if src.nhwc == dst.nhwc {
        return gpu.copy_d2d(dst.ptr(), src.ptr(), src.len() * gpu.esize(src.dtype));
    }
    let (c, hw) = (s[1], s[2] * s[3]);
    let (m, k) = if dst.nhwc { (c, hw) } else { (hw, c) };
    transpose_batched(gpu, s[0], m, k, src.ptr(), dst.ptr())
}

/// out[d][j][i] = a[d][i][j] for float matrices a = [batch, m, k].
pub(crate) fn transpose_batched(gpu: &Gpu, batch: usize, m: usize, k: usize, a: u64, out: u64) -> Result<()> {
    let n = batch * m * k;
    gpu.launch_n("transpose_last2_f32", n, &[&(batch as i64), &(m as i64), &(k as i64), &a, &out])
}

/// Required input `i`.
pub(crate) fn arg<'a>(ins: &[Option<&'a Val>], i: usize, op: &str) -> Result<&'a Val> {
    ins.get(i).copied().flatten().ok_or_else(|| Error::Invalid(format!("{op}: missing input {i}")))
}

/// Builds the GPU kernel for `node`, or says why there is none.
pub fn build(node: &Node) -> std::result::Result<Box<dyn GpuOp>, String> {
    let a = Attrs(node);
    let r = match (node.domain.as_str(), node.op_type.as_str()) {
        ("com.zenrt", "FusedConv") => conv::build_conv(&a, true),
        ("com.zenrt", "FusedGemm") => linalg::build_gemm(&a, true),
        // A residual input (CPU pass `fuse_matmul_add`, skipped for GPU sessions) has no kernel
        // here: refuse it rather than drop it.
        ("com.zenrt", "FusedMatMul") if node.inputs.get(3).is_some_and(|z| !z.is_empty()) => {
            return Err("FusedMatMul with a residual input (input 3) has no CUDA kernel".into())
        }
        ("com.zenrt", "FusedMatMul") => linalg::build_matmul(&a, true),
        ("com.zenrt", "FusedElementwise") => fused::build_elementwise(&a),
        ("com.zenrt", "FusedAttention") => fused::build_attention(&a),
        ("com.zenrt", op) => Err(format!("com.zenrt::{op} has no CUDA kernel")),
        ("" | "ai.onnx", op) => match op {
            "Conv" => conv::build_conv(&a, false),
            "MaxPool" | "AveragePool" => conv::build_pool(&a, op),
            "GlobalAveragePool" | "GlobalMaxPool" => conv::build_global_pool(op),
            "BatchNormalization" => conv::build_batchnorm(&a),
            "Gemm" => linalg::build_gemm(&a, false),
            "MatMul" => linalg::build_matmul(&a, false),
            "Softmax" | "LogSoftmax" => nn::build_softmax(&a, op),
            "LayerNormalization" => nn::build_layernorm(&a),
            "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceSumSquare" | "ReduceL2"
            | "ReduceL1" | "ReduceLogSumExp" => nn::build_reduce(&a, op),
            "LSTM" => rnn::build_lstm(&a),
            "GRU" => rnn::build_gru(&a),
            _ => elementwise::build(&a, op)
                .or_else(|| shape::build(&a, op))
                .unwrap_or_else(|| Err(format!("{op} has no CUDA kernel"))),
        },
        (d, op) => Err(format!("{d}::{op} has no CUDA kernel")),
    };
    r.map_err(|e| format!("{} ({}): {e}", node.op_type, zenrt_core::plan::display_name(node)))
}

/// Ops that only look at shapes, or produce host metadata: they run on the host by nature.
pub fn is_shape_op(op_type: &str) -> bool {
    matches!(op_type, "Shape" | "Size")
}

/// Attribute access for builders (errors are strings: they become "cannot run" reasons).
pub(crate) struct Attrs<'a>(pub &'a Node);

pub(crate) type BResult = std::result::Result<Box<dyn GpuOp>, String>;

impl Attrs<'_> {
    pub fn int(&self, name: &str, default: i64) -> std::result::Result<i64, String> {
        match self.0.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Int(v)) => Ok(*v),
            Some(_) => Err(format!("attribute {name} must be an int")),
        }
    }
    pub fn float(&self, name: &str, default: f32) -> std::result::Result<f32, String> {
        match self.0.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Float(v)) => Ok(*v),
            Some(Attr::Int(v)) => Ok(*v as f32),
            Some(_) => Err(format!("attribute {name} must be a float")),
        }
    }
    pub fn ints(&self, name: &str) -> std::result::Result<Option<Vec<i64>>, String> {
        match self.0.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(Attr::Int(v)) => Ok(Some(vec![*v])),
            Some(_) => Err(format!("attribute {name} must be ints")),
        }
    }
    pub fn floats(&self, name: &str) -> std::result::Result<Option<Vec<f32>>, String> {
        match self.0.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Floats(v)) => Ok(Some(v.clone())),
            Some(_) => Err(format!("attribute {name} must be floats")),
        }
    }
    pub fn string(&self, name: &str) -> std::result::Result<Option<String>, String> {
        match self.0.attrs.get(name) {
            None => Ok(None),
            Some(Attr::String(v)) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            Some(_) => Err(format!("attribute {name} must be a string")),
        }
    }
    pub fn n_inputs(&self) -> usize {
        self.0.inputs.len()
    }
    pub fn has_input(&self, i: usize) -> bool {
        self.0.inputs.get(i).is_some_and(|s| !s.is_empty())
    }
}

/// Activation epilogue codes shared with `act()` in kernels.cu.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Act {
    pub code: i32,
    pub a: f32,
    pub b: f32,
}

impl Act {
    pub const NONE: Act = Act { code: 0, a: 0.0, b: 0.0 };
    /// Parses a fused op's `activation` / `activation_params` attributes.
    pub fn from_attrs(a: &Attrs) -> std::result::Result<Act, String> {
        let Some(name) = a.string("activation")? else { return Ok(Act::NONE) };
        let p = a.floats("activation_params")?.unwrap_or_default();
        let g = |i: usize, d: f32| p.get(i).copied().unwrap_or(d);
        Ok(match name.as_str() {
            "" | "None" | "Identity" => Act::NONE,
            "Relu" => Act { code: 1, a: 0.0, b: 0.0 },
            "LeakyRelu" => Act { code: 2, a: g(0, 0.01), b: 0.0 },
            "Clip" => {
                if p.len() < 2 {
                    return Err("Clip activation needs 2 parameters".into());
                }
                Act { code: 3, a: p[0], b: p[1] }
            }
            "Sigmoid" => Act { code: 4, a: 0.0, b: 0.0 },
            "HardSigmoid" => Act { code: 5, a: g(0, 0.2), b: g(1, 0.5) },
            "HardSwish" => Act { code: 6, a: 0.0, b: 0.0 },
            "Tanh" => Act { code: 7, a: 0.0, b: 0.0 },
            "Silu" | "Swish" => Act { code: 8, a: 0.0, b: 0.0 },
            "Gelu" => Act { code: 9, a: 0.0, b: 0.0 },
            "GeluTanh" => Act { code: 10, a: 0.0, b: 0.0 },
            other => return Err(format!("unknown activation {other:?}")),
        })
    }
}

/// Shape and strides passed to kernels by value (`struct Dims` in kernels.cu).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Dims {
    pub rank: i64,
    pub shape: [i64; 8],
    pub a: [i64; 8],
    pub b: [i64; 8],
    pub c: [i64; 8],
}

pub(crate) fn contiguous_strides(shape: &[usize]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as i64;
    }
    s
}

/// Strides of an input of shape `inp` broadcast to `out` (0 along broadcast axes).
pub(crate) fn broadcast_strides(inp: &[usize], out: &[usize]) -> Result<Vec<i64>> {
    if inp.len() > out.len() {
        return Err(Error::Shape(format!("cannot broadcast {inp:?} to {out:?}")));
    }
    let st = contiguous_strides(inp);
    let pad = out.len() - inp.len();
    let mut r = vec![0i64; out.len()];
    for (i, (&d, &s)) in inp.iter().zip(&st).enumerate() {
        let o = out[pad + i];
        if d == o {
            r[pad + i] = if d == 1 { 0 } else { s };
        } else if d == 1 {
            r[pad + i] = 0;
        } else {
            return Err(Error::Shape(format!("cannot broadcast {inp:?} to {out:?}")));
        }
    }
    Ok(r)
}

/// The numpy broadcast of several shapes.
pub(crate) fn broadcast_shape(shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let pad = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[pad + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(Error::Shape(format!("shapes {shapes:?} do not broadcast")));
            }
        }
    }
    Ok(out)
}

/// Builds a `Dims` for `shape` with up to three stride sets, merging nothing (rank <= 8).
pub(crate) fn dims(shape: &[usize], a: &[i64], b: &[i64], c: &[i64]) -> Result<Dims> {
    if shape.len() > 8 {
        return Err(Error::Unsupported(format!("CUDA kernels handle rank <= 8, got shape {shape:?}")));
    }
    let mut d = Dims { rank: shape.len() as i64, ..Default::default() };
    for (i, &n) in shape.iter().enumerate() {
        d.shape[i] = n as i64;
        d.a[i] = a.get(i).copied().unwrap_or(0);
        d.b[i] = b.get(i).copied().unwrap_or(0);
        d.c[i] = c.get(i).copied().unwrap_or(0);
    }
    Ok(d)
}

/// Normalises a possibly negative axis.
pub(crate) fn norm_axis(axis: i64, rank: usize, op: &str) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::Invalid(format!("{op}: axis {axis} out of range for rank {rank}")));
    }
    Ok(a as usize)
}

/// Requires a float32 operand.
pub(crate) fn need_f32(v: &Val, op: &str) -> Result<()> {
    if v.dtype() != DType::F32 {
        return Err(Error::UnsupportedDType { op: format!("{op} (CUDA)"), dtype: v.dtype() });
    }
    Ok(())
}

/// Strided copy kernel name by element size (on the device: float tensors follow the precision).
pub(crate) fn copy_kernel(gpu: &Gpu, dtype: DType) -> Result<&'static str> {
    Ok(match gpu.esize(dtype) {
        1 => "copy_1",
        2 => "copy_2",
        4 => "copy_4",
        8 => "copy_8",
        _ => return Err(Error::UnsupportedDType { op: "copy (CUDA)".into(), dtype }),
    })
}

/// Launches a strided copy of `shape` elements from `src` (strides `ss`, offset `so`) to `dst`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn strided_copy(
    gpu: &Gpu,
    dtype: DType,
    shape: &[usize],
    src: u64,
    ss: &[i64],
    so: i64,
    dst: u64,
    ds: &[i64],
    dof: i64,
) -> Result<()> {
    let n: usize = shape.iter().product();
    let d = dims(shape, ss, ds, &[])?;
    let k = copy_kernel(gpu, dtype)?;
    gpu.launch_n(k, n, &[&(n as i64), &d, &src, &so, &dst, &dof])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_strides_follow_numpy() {
        assert_eq!(broadcast_shape(&[&[4, 1, 3], &[5, 1]]).unwrap(), vec![4, 5, 3]);
        assert!(broadcast_shape(&[&[2, 3], &[4, 3]]).is_err());
        // [5,1] broadcast to [4,5,3]: no stride on the new leading axis and the size-1 axis
        assert_eq!(broadcast_strides(&[5, 1], &[4, 5, 3]).unwrap(), vec![0, 1, 0]);
        assert_eq!(broadcast_strides(&[4, 1, 3], &[4, 5, 3]).unwrap(), vec![3, 0, 1]);
        assert!(broadcast_strides(&[2], &[3]).is_err());
    }

    #[test]
    fn axes_are_checked() {
        assert_eq!(norm_axis(-1, 3, "t").unwrap(), 2);
        assert!(norm_axis(3, 3, "t").is_err());
        assert!(norm_axis(0, 0, "t").is_err());
        assert!(dims(&[1; 9], &[], &[], &[]).is_err());
    }
}
