//! Elementwise operators: unary activations, broadcasting arithmetic, comparisons, logic,
//! Where and Cast.

use super::{arg, broadcast_shape, broadcast_strides, dims, need_f32, Act, Attrs, BResult, Cx, GpuOp, Val};
use zenrt_core::{DType, Error, Result};

/// The builder for elementwise `op`, or `None` if `op` is not elementwise.
pub(super) fn build(a: &Attrs, op: &str) -> Option<BResult> {
    let unary = |code: i32, p: f32, q: f32| -> Option<BResult> { Some(Ok(Box::new(Unary(Act { code, a: p, b: q })))) };
    let f = |name: &str, d: f32| a.float(name, d);
    match op {
        "Relu" => unary(1, 0.0, 0.0),
        "LeakyRelu" => Some(f("alpha", 0.01).map(|x| Box::new(Unary(Act { code: 2, a: x, b: 0.0 })) as _)),
        "Sigmoid" => unary(4, 0.0, 0.0),
        "HardSigmoid" => {
            Some((|| Ok(Box::new(Unary(Act { code: 5, a: f("alpha", 0.2)?, b: f("beta", 0.5)? })) as Box<dyn GpuOp>))())
        }
        "HardSwish" => unary(6, 0.0, 0.0),
        "Tanh" => unary(7, 0.0, 0.0),
        "Gelu" => Some(a.string("approximate").map(|s| {
            let code = if s.as_deref() == Some("tanh") { 10 } else { 9 };
            Box::new(Unary(Act { code, a: 0.0, b: 0.0 })) as _
        })),
        "Exp" => unary(20, 0.0, 0.0),
        "Log" => unary(21, 0.0, 0.0),
        "Sqrt" => unary(22, 0.0, 0.0),
        "Neg" => unary(23, 0.0, 0.0),
        "Abs" => unary(24, 0.0, 0.0),
        "Erf" => unary(25, 0.0, 0.0),
        "Reciprocal" => unary(26, 0.0, 0.0),
        "Floor" => unary(27, 0.0, 0.0),
        "Ceil" => unary(28, 0.0, 0.0),
        "Sin" => unary(29, 0.0, 0.0),
        "Cos" => unary(30, 0.0, 0.0),
        "Elu" => Some(f("alpha", 1.0).map(|x| Box::new(Unary(Act { code: 31, a: x, b: 0.0 })) as _)),
        "Softplus" => unary(32, 0.0, 0.0),
        "Round" => unary(33, 0.0, 0.0),
        "Sign" => unary(34, 0.0, 0.0),
        "Clip" => Some((|| {
            // opset < 11 uses attributes; later opsets use optional inputs 1 and 2.
            Ok(Box::new(Clip { min: f("min", f32::MIN)?, max: f("max", f32::MAX)? }) as Box<dyn GpuOp>)
        })()),
        "Add" => Some(Ok(Box::new(Binary(0)))),
        "Sub" => Some(Ok(Box::new(Binary(1)))),
        "Mul" => Some(Ok(Box::new(Binary(2)))),
        "Div" => Some(Ok(Box::new(Binary(3)))),
        "Pow" => Some(Ok(Box::new(FloatOnly(Binary(4))))),
        "Max" if a.n_inputs() == 2 => Some(Ok(Box::new(Binary(5)))),
        "Min" if a.n_inputs() == 2 => Some(Ok(Box::new(Binary(6)))),
        "Mod" => Some(a.int("fmod", 0).map(|f| Box::new(Binary(if f != 0 { 7 } else { 8 })) as _)),
        "Equal" => Some(Ok(Box::new(Compare(0)))),
        "Less" => Some(Ok(Box::new(Compare(1)))),
        "LessOrEqual" => Some(Ok(Box::new(Compare(2)))),
        "Greater" => Some(Ok(Box::new(Compare(3)))),
        "GreaterOrEqual" => Some(Ok(Box::new(Compare(4)))),
        "And" => Some(Ok(Box::new(Logic(0)))),
        "Or" => Some(Ok(Box::new(Logic(1)))),
        "Xor" => Some(Ok(Box::new(Logic(2)))),
        "Not" => Some(Ok(Box::new(Not))),
        "Where" => Some(Ok(Box::new(Where))),
        "Cast" => Some((|| {
            let to = a.int("to", 0)?;
            let dt = DType::from_onnx_code(to as i32).ok_or_else(|| format!("Cast to type code {to}"))?;
            Ok(Box::new(Cast(dt)) as Box<dyn GpuOp>)
        })()),
        _ => None,
    }
}

/// y = act(x) on float32.
struct Unary(Act);

impl GpuOp for Unary {
    fn layout(&self) -> super::Layout {
        super::Layout::Same
    }
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "unary")?;
        need_f32(x, "unary")?;
        let x = cx.dev(x)?;
        let y = cx.gpu.empty(DType::F32, x.shape().to_vec())?;
        let n = x.len();
        cx.gpu.launch_n("unary_f32", n, &[&(n as i64), &self.0.code, &self.0.a, &self.0.b, &x.ptr(), &y.ptr()])?;
        Ok(vec![Val::Dev(y)])
    }
}

/// Clip with bounds from attributes (opset < 11) or host scalar inputs.
struct Clip {
    min: f32,
    max: f32,
}

impl GpuOp for Clip {
    fn layout(&self) -> super::Layout {
        super::Layout::Same
    }
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let scalar = |i: usize, d: f32| -> Result<f32> {
            match ins.get(i).copied().flatten() {
                None => Ok(d),
                Some(v) => {
                    let t = cx.host(v)?;
                    t.to_f64_vec().first().map(|&x| x as f32).ok_or_else(|| Error::Invalid("Clip: empty bound".into()))
                }
            }
        };
        let (lo, hi) = (scalar(1, self.min)?, scalar(2, self.max)?);
        Unary(Act { code: 3, a: lo, b: hi }).run(cx, &ins[..1])
    }
}

fn suffix(dt: DType, op: &str) -> Result<&'static str> {
    Ok(match dt {
        DType::F32 => "f32",
        DType::I64 => "i64",
        DType::I32 => "i32",
        d => return Err(Error::UnsupportedDType { op: format!("{op} (CUDA)"), dtype: d }),
    })
}

/// Broadcasting arithmetic (add, sub, mul, div, pow, max, min, mod).
pub(crate) struct Binary(pub i32);

impl GpuOp for Binary {
    fn layout(&self) -> super::Layout {
        super::Layout::Same
    }
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let (a, b) = (arg(ins, 0, "binary")?, arg(ins, 1, "binary")?);
        if a.dtype() != b.dtype() {
            return Err(Error::Invalid(format!("operand types differ: {} and {}", a.dtype(), b.dtype())));
        }
        let out = broadcast_shape(&[a.shape(), b.shape()])?;
        let (ga, gb) = (cx.dev(a)?, cx.dev(b)?);
        let y = cx.gpu.empty(a.dtype(), out.clone())?;
        let n = y.len();
        if a.dtype() == DType::F32 && a.shape() == b.shape() {
            let (c, p, q) = (0i32, 0f32, 0f32);
            cx.gpu.launch_n(
                "binary_same_f32",
                n,
                &[&(n as i64), &self.0, &ga.ptr(), &gb.ptr(), &c, &p, &q, &y.ptr()],
            )?;
        } else if let Some(g) = bcast_groups(&out, a.shape(), b.shape()).filter(|_| a.dtype() == DType::F32) {
            let (full, part) = if g.swap { (&gb, &ga) } else { (&ga, &gb) };
            cx.gpu.launch_n(
                "binary_bcast_f32",
                n,
                &[&(n as i64), &self.0, &(g.swap as i32), &g.p, &g.qr, &g.r, &full.ptr(), &part.ptr(), &y.ptr()],
            )?;
        } else {
            let d = dims(&out, &broadcast_strides(a.shape(), &out)?, &broadcast_strides(b.shape(), &out)?, &[])?;
            let k = format!("binary_{}", suffix(a.dtype(), "binary")?);
            cx.gpu.launch_n(&k, n, &[&(n as i64), &self.0, &d, &ga.ptr(), &gb.ptr(), &y.ptr()])?;
        }
        Ok(vec![Val::Dev(y)])
    }
}

/// How `binary_bcast_f32` sees a broadcast: one operand has the output's shape (the other's
/// role when `swap`), the other varies only over the groups P and R of the output's dims
/// [B0, P, Q, R] (each group possibly empty) and is broadcast over B0 and Q.
#[derive(Debug, PartialEq)]
struct BcastGroups {
    swap: bool,
    p: u32,
    qr: u32,
    r: u32,
}

/// The [`BcastGroups`] of `a op b` with output shape `out`, or `None` (neither operand has the
/// output's shape, the other does not fit the pattern, or 2^31 elements or more).
fn bcast_groups(out: &[usize], a: &[usize], b: &[usize]) -> Option<BcastGroups> {
    let n: usize = out.iter().product();
    if n >= 1 << 31 || n == 0 {
        return None;
    }
    let (swap, part) = if a == out {
        (false, b)
    } else if b == out {
        (true, a)
    } else {
        return None;
    };
    let st = broadcast_strides(part, out).ok()?;
    // group of each non-1 output dim: 0 = B0 (broadcast), 1 = P (present), 2 = Q, 3 = R
    let (mut group, mut sizes) = (0usize, [1usize; 4]);
    for (&d, &s) in out.iter().zip(&st).filter(|(&d, _)| d != 1) {
        let present = s != 0;
        // stay in the group while it fits, else move on to the next group of that kind
        group = match (group, present) {
            (0, false) | (1, true) | (2, false) | (3, true) => group,
            (0, true) => 1,
            (1, false) => 2,
            (2, true) => 3,
            _ => return None,
        };
        sizes[group] *= d;
    }
    let (p, q, r) = (sizes[1] as u32, sizes[2] as u32, sizes[3] as u32);
    Some(BcastGroups { swap, p, qr: q * r, r })
}

/// An operator with float32 kernels only (e.g. Pow, whose operands may differ in type).
struct FloatOnly<T>(T);

impl<T: GpuOp> GpuOp for FloatOnly<T> {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        for v in ins.iter().flatten() {
            if v.dtype() != DType::F32 {
                return Err(Error::UnsupportedDType { op: "Pow (CUDA)".into(), dtype: v.dtype() });
            }
        }
        self.0.run(cx, ins)
    }
}

/// Comparisons with a bool output.
struct Compare(i32);

impl GpuOp for Compare {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let (a, b) = (arg(ins, 0, "compare")?, arg(ins, 1, "compare")?);
        if a.dtype() != b.dtype() {
            return Err(Error::Invalid(format!("operand types differ: {} and {}", a.dtype(), b.dtype())));
        }
        let out = broadcast_shape(&[a.shape(), b.shape()])?;
        let (ga, gb) = (cx.dev(a)?, cx.dev(b)?);
        let y = cx.gpu.empty(DType::Bool, out.clone())?;
        let n = y.len();
        let d = dims(&out, &broadcast_strides(a.shape(), &out)?, &broadcast_strides(b.shape(), &out)?, &[])?;
        let k = if a.dtype() == DType::Bool {
            // equality on bools = not xor
            let t = cx.gpu.empty(DType::Bool, out.clone())?;
            cx.gpu.launch_n("logic_u8", n, &[&(n as i64), &2i32, &d, &ga.ptr(), &gb.ptr(), &t.ptr()])?;
            if self.0 != 0 {
                return Err(Error::UnsupportedDType { op: "ordered comparison (CUDA)".into(), dtype: DType::Bool });
            }
            cx.gpu.launch_n("not_u8", n, &[&(n as i64), &t.ptr(), &y.ptr()])?;
            return Ok(vec![Val::Dev(y)]);
        } else {
            format!("compare_{}", suffix(a.dtype(), "compare")?)
        };
        cx.gpu.launch_n(&k, n, &[&(n as i64), &self.0, &d, &ga.ptr(), &gb.ptr(), &y.ptr()])?;
        Ok(vec![Val::Dev(y)])
    }
}

/// And / Or / Xor on bools.
struct Logic(i32);

impl GpuOp for Logic {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let (a, b) = (arg(ins, 0, "logic")?, arg(ins, 1, "logic")?);
        for v in [a, b] {
            if v.dtype() != DType::Bool {
                return Err(Error::UnsupportedDType { op: "logic (CUDA)".into(), dtype: v.dtype() });
            }
        }
        let out = broadcast_shape(&[a.shape(), b.shape()])?;
        let (ga, gb) = (cx.dev(a)?, cx.dev(b)?);
        let y = cx.gpu.empty(DType::Bool, out.clone())?;
        let n = y.len();
        let d = dims(&out, &broadcast_strides(a.shape(), &out)?, &broadcast_strides(b.shape(), &out)?, &[])?;
        cx.gpu.launch_n("logic_u8", n, &[&(n as i64), &self.0, &d, &ga.ptr(), &gb.ptr(), &y.ptr()])?;
        Ok(vec![Val::Dev(y)])
    }
}

struct Not;

impl GpuOp for Not {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let a = arg(ins, 0, "Not")?;
        if a.dtype() != DType::Bool {
            return Err(Error::UnsupportedDType { op: "Not (CUDA)".into(), dtype: a.dtype() });
        }
        let ga = cx.dev(a)?;
        let y = cx.gpu.empty(DType::Bool, ga.shape().to_vec())?;
        let n = y.len();
        cx.gpu.launch_n("not_u8", n, &[&(n as i64), &ga.ptr(), &y.ptr()])?;
        Ok(vec![Val::Dev(y)])
    }
}

struct Where;

impl GpuOp for Where {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let (c, x, z) = (arg(ins, 0, "Where")?, arg(ins, 1, "Where")?, arg(ins, 2, "Where")?);
        if c.dtype() != DType::Bool || x.dtype() != z.dtype() {
            return Err(Error::Invalid("Where: condition must be bool and branches of one type".into()));
        }
        let out = broadcast_shape(&[c.shape(), x.shape(), z.shape()])?;
        let (gc, gx, gz) = (cx.dev(c)?, cx.dev(x)?, cx.dev(z)?);
        let y = cx.gpu.empty(x.dtype(), out.clone())?;
        let n = y.len();
        let d = dims(
            &out,
            &broadcast_strides(c.shape(), &out)?,
            &broadcast_strides(x.shape(), &out)?,
            &broadcast_strides(z.shape(), &out)?,
        )?;
        let k = match cx.gpu.esize(x.dtype()) {
            1 => "where_1",
            2 => "where_2",
            4 => "where_4",
            8 => "where_8",
            _ => return Err(Error::UnsupportedDType { op: "Where (CUDA)".into(), dtype: x.dtype() }),
        };
        cx.gpu.launch_n(k, n, &[&(n as i64), &d, &gc.ptr(), &gx.ptr(), &gz.ptr(), &y.ptr()])?;
        Ok(vec![Val::Dev(y)])
    }
}

struct Cast(DType);

fn cast_name(dt: DType) -> Option<&'static str> {
    Some(match dt {
        DType::F32 => "f32",
        DType::I64 => "i64",
        DType::I32 => "i32",
        DType::Bool => "u8",
        _ => return None,
    })
}

impl GpuOp for Cast {
    fn run(&self, cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        let x = arg(ins, 0, "Cast")?;
        let gx = cx.dev(x)?;
        if x.dtype() == self.0 {
            return Ok(vec![Val::Dev(gx)]);
        }
        let (Some(from), Some(to)) = (cast_name(x.dtype()), cast_name(self.0)) else {
            return Err(Error::Unsupported(format!("CUDA Cast from {} to {}", x.dtype(), self.0)));
        };
        let y = cx.gpu.empty(self.0, gx.shape().to_vec())?;
        let n = y.len();
        cx.gpu.launch_n(&format!("cast_{from}_{to}"), n, &[&(n as i64), &gx.ptr(), &y.ptr()])?;
        Ok(vec![Val::Dev(y)])
    }
}

#[cfg(test)]
mod tests {
    use super::{bcast_groups, BcastGroups};

    #[test]
    fn broadcasts_fold_into_four_groups() {
        let g = |swap, p, q, r| Some(BcastGroups { swap, p, qr: q * r, r });
        // squeeze-excitation scale over NCHW and over NHWC (physical [N, H, W, C])
        assert_eq!(bcast_groups(&[2, 3, 4, 5], &[2, 3, 4, 5], &[2, 3, 1, 1]), g(false, 6, 20, 1));
        assert_eq!(bcast_groups(&[2, 4, 5, 3], &[2, 1, 1, 3], &[2, 4, 5, 3]), g(true, 2, 20, 3));
        // per-channel [C, 1, 1] over NCHW; a row vector over a matrix; a scalar
        assert_eq!(bcast_groups(&[2, 3, 4, 5], &[2, 3, 4, 5], &[3, 1, 1]), g(false, 3, 20, 1));
        assert_eq!(bcast_groups(&[7, 9], &[9], &[7, 9]), g(true, 9, 1, 1));
        assert_eq!(bcast_groups(&[7, 9], &[7, 9], &[1]), g(false, 1, 1, 1));
        // [N, 1, C] over [N, H, C] with a size-1 dim in the middle of the output
        assert_eq!(bcast_groups(&[2, 1, 4, 3], &[2, 1, 4, 3], &[2, 1, 1, 3]), g(false, 2, 4, 3));
        // both broadcast, a fifth group, or too large: the general kernel
        assert_eq!(bcast_groups(&[2, 3], &[2, 1], &[1, 3]), None);
        assert_eq!(bcast_groups(&[2, 3, 4, 5, 6], &[2, 3, 4, 5, 6], &[3, 1, 5, 1]), None);
        assert_eq!(bcast_groups(&[1 << 16, 1 << 15], &[1 << 16, 1 << 15], &[1]), None);
    }
}
