//! Shape and data-movement operators. Reshape-like ops return views (no copy); Transpose,
//! Expand, Slice, Concat and Split are one strided-copy kernel; Gather has its own kernel.

use super::{
    arg, broadcast_shape, broadcast_strides, contiguous_strides, norm_axis, strided_copy, Attrs, BResult, Cx, GpuOp,
    Val,
};
use crate::gpu::GTensor;
use std::sync::Arc;
use zenrt_core::{DType, Error, Node, Result, Tensor};

pub(super) fn build(a: &Attrs, op: &str) -> Option<BResult> {
    let b: BResult = match op {
        "Identity" => Ok(Box::new(Identity)),
        "Dropout" => {
            if a.0.outputs.get(1).is_some_and(|o| !o.is_empty()) {
                Err("Dropout's mask output has no CUDA kernel".into())
            } else {
                Ok(Box::new(Identity))
            }
        }
        "Reshape" => a.int("allowzero", 0).map(|z| Box::new(Reshape { allowzero: z != 0 }) as _),
        "Flatten" => a.int("axis", 1).map(|axis| Box::new(Flatten { axis }) as _),
        "Squeeze" => a.ints("axes").map(|axes| Box::new(Squeeze { axes, un: false }) as _),
        "Unsqueeze" => a.ints("axes").map(|axes| Box::new(Squeeze { axes, un: true }) as _),
        "Transpose" => a.ints("perm").map(|perm| Box::new(Transpose { perm }) as _),
        "Concat" => a.int("axis", 0).map(|axis| Box::new(Concat { axis }) as _),
        "Slice" => {
            (|| Ok(Box::new(Slice { starts: a.ints("starts")?, ends: a.ints("ends")?, axes: a.ints("axes")? }) as _))()
        }
        "Split" => (|| {
            Ok(Box::new(Split { axis: a.int("axis", 0)?, split: a.ints("split")?, outputs: a.0.outputs.len() }) as _)
        })(),
        "Gather" => a.int("axis", 0).map(|axis| Box::new(Gather { axis }) as _),
        "Expand" => Ok(Box::new(Expand)),
        "Shape" => (|| Ok(Box::new(ShapeOp { start: a.int("start", 0)?, end: a.ints("end")? }) as _))(),
        "Size" => Ok(Box::new(SizeOp)),
        "ConstantOfShape" | "Range" => Ok(Box::new(HostCompute(a.0.clone()))),
        _ => return None,
    };
    Some(b)
}

struct Identity;

impl GpuOp for Identity {
    fn run(&self, _cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        Ok(vec![arg(ins, 0, "Identity")?.clone()])
    }
}

/// The same data with a new shape: a view on the device, a reshaped tensor on the host.
fn with_shape(cx: &Cx, v: &Val, shape: Vec<usize>) -> Result<Val> {
    let n: usize = shape.iter().product();
    let have: usize = v.shape().iter().product();
    if n != have {
        return Err(Error::Shape(format!("cannot reshape {:?} ({have} elements) to {shape:?}", v.shape())));
    }
    Ok(match v {
        Val::Dev(g) => Val::Dev(g.view(shape)),
        Val::Host(t, g) => {
            let _ = cx;
            Val::Host(Arc::new(t.as_ref().clone().reshape(shape.clone())?), g.as_ref().map(|g| g.view(shape)))
        }
    })
}

fn host_ints(cx: &Cx, v: &Val) -> Result<Vec<i64>> {
    Ok(cx.host(v)?.to_i64_vec())
}

struct Reshape {
    allowzero: bool,
}

impl GpuOp for Reshape {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Reshape")?;
        let spec = host_ints(cx, arg(ins, 1, "Reshape")?)?;
        let inn = x.shape();
        let total: usize = inn.iter().product();
        let mut out = Vec::with_capacity(spec.len());
        let mut infer = None;
        for (i, &d) in spec.iter().enumerate() {
            match d {
                0 if !self.allowzero => {
                    out.push(*inn.get(i).ok_or_else(|| Error::Shape(format!("Reshape: 0 at {i} past input rank")))?)
                }
                -1 if infer.is_none() => {
                    infer = Some(i);
                    out.push(1)
                }
                d if d >= 0 => out.push(d as usize),
                d => return Err(Error::Shape(format!("Reshape: bad dimension {d} in {spec:?}"))),
            }
        }
        if let Some(i) = infer {
            let known: usize = out.iter().product();
            if known == 0 || !total.is_multiple_of(known) {
                return Err(Error::Shape(format!("Reshape: cannot infer -1 for {inn:?} -> {spec:?}")));
            }
            out[i] = total / known;
        }
        Ok(vec![with_shape(cx, x, out)?])
    }
}

struct Flatten {
    axis: i64,
}

impl GpuOp for Flatten {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Flatten")?;
        let s = x.shape();
        let r = s.len() as i64;
        let ax = if self.axis < 0 { self.axis + r } else { self.axis };
        if ax < 0 || ax > r {
            return Err(Error::Invalid(format!("Flatten: axis {} for rank {r}", self.axis)));
        }
        let ax = ax as usize;
        let out = vec![s[..ax].iter().product(), s[ax..].iter().product()];
        Ok(vec![with_shape(cx, x, out)?])
    }
}

struct Squeeze {
    axes: Option<Vec<i64>>,
    un: bool,
}

impl GpuOp for Squeeze {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Squeeze")?;
        let axes = match (ins.get(1).copied().flatten(), &self.axes) {
            (Some(v), _) => Some(host_ints(cx, v)?),
            (None, a) => a.clone(),
        };
        let s = x.shape().to_vec();
        let out = if self.un {
            let axes = axes.ok_or_else(|| Error::Invalid("Unsqueeze needs axes".into()))?;
            let r = s.len() + axes.len();
            let mut ax: Vec<usize> = axes.iter().map(|&a| norm_axis(a, r, "Unsqueeze")).collect::<Result<_>>()?;
            ax.sort_unstable();
            let mut out = Vec::with_capacity(r);
            let mut it = s.iter();
            for i in 0..r {
                if ax.contains(&i) {
                    out.push(1);
                } else {
                    out.push(*it.next().ok_or_else(|| Error::Shape("Unsqueeze: repeated axes".into()))?);
                }
            }
            out
        } else {
            match axes {
                None => s.iter().copied().filter(|&d| d != 1).collect(),
                Some(axes) => {
                    let ax: Vec<usize> =
                        axes.iter().map(|&a| norm_axis(a, s.len(), "Squeeze")).collect::<Result<_>>()?;
                    for &a in &ax {
                        if s[a] != 1 {
                            return Err(Error::Shape(format!("Squeeze: axis {a} of {s:?} is not 1")));
                        }
                    }
                    s.iter().enumerate().filter(|(i, _)| !ax.contains(i)).map(|(_, &d)| d).collect()
                }
            }
        };
        Ok(vec![with_shape(cx, x, out)?])
    }
}

struct Transpose {
    perm: Option<Vec<i64>>,
}

impl GpuOp for Transpose {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Transpose")?;
        let s = x.shape().to_vec();
        let r = s.len();
        let perm: Vec<usize> = match &self.perm {
            Some(p) => p.iter().map(|&a| norm_axis(a, r, "Transpose")).collect::<Result<_>>()?,
            None => (0..r).rev().collect(),
        };
        let mut seen = vec![false; r];
        if perm.len() != r || perm.iter().any(|&p| std::mem::replace(&mut seen[p], true)) {
            return Err(Error::Invalid(format!("Transpose: perm {perm:?} for rank {r}")));
        }
        let gx = cx.dev(x)?;
        let out: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
        let ist = contiguous_strides(&s);
        let src: Vec<i64> = perm.iter().map(|&p| ist[p]).collect();
        let y = cx.gpu.empty(x.dtype(), out.clone())?;
        strided_copy(cx.gpu, x.dtype(), &out, gx.ptr(), &src, 0, y.ptr(), &contiguous_strides(&out), 0)?;
        Ok(vec![Val::Dev(y)])
    }
}

struct Concat {
    axis: i64,
}

impl GpuOp for Concat {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let vals: Vec<&Val> = ins.iter().copied().flatten().collect();
        let first = vals.first().ok_or_else(|| Error::Invalid("Concat of nothing".into()))?;
        let r = first.shape().len();
        let ax = norm_axis(self.axis, r, "Concat")?;
        let mut out = first.shape().to_vec();
        out[ax] = 0;
        for v in &vals {
            let s = v.shape();
            if s.len() != r || v.dtype() != first.dtype() || (0..r).any(|i| i != ax && s[i] != out[i]) {
                return Err(Error::Shape(format!("Concat: input {s:?} does not match {:?}", first.shape())));
            }
            out[ax] += s[ax];
        }
        let y = cx.gpu.empty(first.dtype(), out.clone())?;
        let ost = contiguous_strides(&out);
        let mut off = 0i64;
        for v in vals {
            let s = v.shape().to_vec();
            if s.iter().product::<usize>() > 0 {
                let g = cx.dev(v)?;
                strided_copy(cx.gpu, v.dtype(), &s, g.ptr(), &contiguous_strides(&s), 0, y.ptr(), &ost, off * ost[ax])?;
            }
            off += s[ax] as i64;
        }
        Ok(vec![Val::Dev(y)])
    }
}

struct Slice {
    starts: Option<Vec<i64>>,
    ends: Option<Vec<i64>>,
    axes: Option<Vec<i64>>,
}

impl GpuOp for Slice {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Slice")?;
        let s = x.shape().to_vec();
        let r = s.len();
        let get = |i: usize, attr: &Option<Vec<i64>>| -> Result<Option<Vec<i64>>> {
            match ins.get(i).copied().flatten() {
                Some(v) => Ok(Some(host_ints(cx, v)?)),
                None => Ok(attr.clone()),
            }
        };
        let starts = get(1, &self.starts)?.ok_or_else(|| Error::Invalid("Slice needs starts".into()))?;
        let ends = get(2, &self.ends)?.ok_or_else(|| Error::Invalid("Slice needs ends".into()))?;
        let axes = get(3, &self.axes)?.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = get(4, &None)?.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(Error::Invalid("Slice: starts, ends, axes and steps differ in length".into()));
        }
        let mut begin = vec![0i64; r];
        let mut step = vec![1i64; r];
        let mut out = s.clone();
        for i in 0..starts.len() {
            let a = norm_axis(axes[i], r, "Slice")?;
            let d = s[a] as i64;
            let st = steps[i];
            if st == 0 {
                return Err(Error::Invalid("Slice: step 0".into()));
            }
            let clampi = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
            let norm = |v: i64| if v < 0 { v + d } else { v };
            let (b, e, len) = if st > 0 {
                let b = clampi(norm(starts[i]), 0, d);
                let e = clampi(norm(ends[i]), 0, d);
                (b, e, if e > b { (e - b + st - 1) / st } else { 0 })
            } else {
                let b = clampi(norm(starts[i]), -1, d - 1);
                let e = clampi(norm(ends[i]), -1, d - 1);
                (b, e, if b > e { (b - e + (-st) - 1) / (-st) } else { 0 })
            };
            let _ = e;
            begin[a] = b;
            step[a] = st;
            out[a] = len as usize;
        }
        let ist = contiguous_strides(&s);
        let src: Vec<i64> = (0..r).map(|i| ist[i] * step[i]).collect();
        let off: i64 = (0..r).map(|i| ist[i] * begin[i]).sum();
        let y = cx.gpu.empty(x.dtype(), out.clone())?;
        if !y.is_empty() {
            let gx = cx.dev(x)?;
            strided_copy(cx.gpu, x.dtype(), &out, gx.ptr(), &src, off, y.ptr(), &contiguous_strides(&out), 0)?;
        }
        Ok(vec![Val::Dev(y)])
    }
}

struct Split {
    axis: i64,
    split: Option<Vec<i64>>,
    outputs: usize,
}

impl GpuOp for Split {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Split")?;
        let s = x.shape().to_vec();
        let ax = norm_axis(self.axis, s.len(), "Split")?;
        let sizes: Vec<usize> = match (ins.get(1).copied().flatten(), &self.split) {
            (Some(v), _) => host_ints(cx, v)?.iter().map(|&d| d.max(0) as usize).collect(),
            (None, Some(v)) => v.iter().map(|&d| d.max(0) as usize).collect(),
            (None, None) => {
                let k = self.outputs.max(1);
                let chunk = s[ax].div_ceil(k);
                (0..k).map(|i| chunk.min(s[ax].saturating_sub(i * chunk))).collect()
            }
        };
        if sizes.iter().sum::<usize>() != s[ax] {
            return Err(Error::Shape(format!("Split: sizes {sizes:?} do not add up to {}", s[ax])));
        }
        let gx = cx.dev(x)?;
        let ist = contiguous_strides(&s);
        let mut off = 0i64;
        let mut outs = Vec::new();
        for &len in &sizes {
            let mut o = s.clone();
            o[ax] = len;
            let y = cx.gpu.empty(x.dtype(), o.clone())?;
            if !y.is_empty() {
                strided_copy(
                    cx.gpu,
                    x.dtype(),
                    &o,
                    gx.ptr(),
                    &ist,
                    off * ist[ax],
                    y.ptr(),
                    &contiguous_strides(&o),
                    0,
                )?;
            }
            off += len as i64;
            outs.push(Val::Dev(y));
        }
        Ok(outs)
    }
}

struct Gather {
    axis: i64,
}

impl GpuOp for Gather {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let (x, idx) = (arg(ins, 0, "Gather")?, arg(ins, 1, "Gather")?);
        let s = x.shape().to_vec();
        let ax = norm_axis(self.axis, s.len(), "Gather")?;
        let isuf = match idx.dtype() {
            DType::I64 => "i64",
            DType::I32 => "i32",
            d => return Err(Error::UnsupportedDType { op: "Gather indices (CUDA)".into(), dtype: d }),
        };
        let esz = match cx.gpu.esize(x.dtype()) {
            1 => 1,
            2 => 2,
            4 => 4,
            8 => 8,
            _ => return Err(Error::UnsupportedDType { op: "Gather (CUDA)".into(), dtype: x.dtype() }),
        };
        let mut out = s[..ax].to_vec();
        out.extend_from_slice(idx.shape());
        out.extend_from_slice(&s[ax + 1..]);
        let m: usize = idx.shape().iter().product();
        let inner: usize = s[ax + 1..].iter().product();
        let (gx, gi) = (cx.dev(x)?, cx.dev(idx)?);
        let y: GTensor = cx.gpu.empty(x.dtype(), out)?;
        let n = y.len();
        if n > 0 {
            if s[ax] == 0 {
                return Err(Error::Invalid("Gather from an empty axis".into()));
            }
            let k = format!("gather_{esz}_{isuf}");
            let bad = cx.gpu.bad_flag();
            cx.gpu.launch_n(
                &k,
                n,
                &[&(n as i64), &(m as i64), &(s[ax] as i64), &(inner as i64), &gx.ptr(), &gi.ptr(), &y.ptr(), &bad],
            )?;
        }
        Ok(vec![Val::Dev(y)])
    }
}

struct Expand;

impl GpuOp for Expand {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Expand")?;
        let shape: Vec<usize> = host_ints(cx, arg(ins, 1, "Expand")?)?.iter().map(|&d| d.max(0) as usize).collect();
        let out = broadcast_shape(&[x.shape(), &shape])?;
        let st = broadcast_strides(x.shape(), &out)?;
        let gx = cx.dev(x)?;
        let y = cx.gpu.empty(x.dtype(), out.clone())?;
        strided_copy(cx.gpu, x.dtype(), &out, gx.ptr(), &st, 0, y.ptr(), &contiguous_strides(&out), 0)?;
        Ok(vec![Val::Dev(y)])
    }
}

/// Shape: the host knows every shape, so this never touches the device.
struct ShapeOp {
    start: i64,
    end: Option<Vec<i64>>,
}

impl GpuOp for ShapeOp {
    fn layout(&self) -> super::Layout {
        super::Layout::Any // reads only the (logical) shape
    }
    fn run(&self, _cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let s = arg(ins, 0, "Shape")?.shape();
        let r = s.len() as i64;
        let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let b = clampi(self.start);
        let e = clampi(self.end.as_ref().and_then(|v| v.first().copied()).unwrap_or(r));
        let v: Vec<i64> = if e > b { s[b..e].iter().map(|&d| d as i64).collect() } else { vec![] };
        let n = v.len();
        Ok(vec![Val::Host(Arc::new(Tensor::from_vec(vec![n], v)?), None)])
    }
}

struct SizeOp;

impl GpuOp for SizeOp {
    fn layout(&self) -> super::Layout {
        super::Layout::Any // reads only the (logical) shape
    }
    fn run(&self, _cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let n: usize = arg(ins, 0, "Size")?.shape().iter().product();
        Ok(vec![Val::Host(Arc::new(Tensor::scalar(n as i64)), None)])
    }
}

/// Ops whose inputs are shape metadata (ConstantOfShape, Range): computed on the host from
/// those few numbers with the reference operator, the result uploaded.
struct HostCompute(Node);

impl GpuOp for HostCompute {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let hosts: Vec<Option<Arc<Tensor>>> =
            ins.iter().map(|v| v.map(|v| cx.host(v)).transpose()).collect::<Result<_>>()?;
        let refs: Vec<Option<&Tensor>> = hosts.iter().map(|h| h.as_deref()).collect();
        let outs = self.0.op.run(&NoSubgraphs, &refs)?;
        outs.into_iter()
            .map(|t| {
                let g = cx.gpu.upload(&t)?;
                Ok(Val::Host(Arc::new(t), Some(g)))
            })
            .collect()
    }
}

/// An execution context for reference operators run on the host (they have no subgraphs).
pub(crate) struct NoSubgraphs;

impl zenrt_core::ExecCtx for NoSubgraphs {
    fn run_subgraph_values(
        &self,
        _graph: &Arc<zenrt_core::Graph>,
        _inputs: Vec<zenrt_core::Value>,
    ) -> Result<Vec<zenrt_core::Value>> {
        Err(Error::Unsupported("subgraphs in the CUDA backend".into()))
    }
}
