//! Vectorised f32 kernels for the pointwise, reduction and normalisation operators.
//!
//! Three code paths of the same generic code (`math.rs` over the [`vector`] lane trait):
//! AVX-512F (16 lanes), AVX2+FMA (8 lanes) and portable scalar. The path is chosen once per
//! process with `is_x86_feature_detected!` ([`level`]); `ZENRT_SIMD=scalar|avx2` forces a
//! lower one (for tests and comparisons). All entry points are safe functions on slices.
//!
//! [`par`] splits large outputs over the current thread pool (small ones stay on the caller).

pub(crate) mod math;
pub mod par;
pub(crate) mod vector;

#[cfg(test)]
mod tests;

#[cfg(target_arch = "x86_64")]
use vector::{Avx2, Avx512};
use vector::{F32x, Scalar};

/// The instruction set the kernels run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Avx512,
    Avx2,
    Scalar,
}

fn detect() -> Level {
    let forced = std::env::var("ZENRT_SIMD").ok();
    #[cfg(target_arch = "x86_64")]
    {
        let avx512 = is_x86_feature_detected!("avx512f");
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        match forced.as_deref() {
            Some("scalar") => return Level::Scalar,
            Some("avx2") if avx2 => return Level::Avx2,
            _ => {}
        }
        if avx512 {
            return Level::Avx512;
        }
        if avx2 {
            return Level::Avx2;
        }
    }
    let _ = forced;
    Level::Scalar
}

/// The kernel level of this process (detected once, then cached).
pub fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(detect)
}

/// A pointwise f32 function with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryFn {
    Exp,
    Expm1,
    Log,
    Erf,
    Tanh,
    Sigmoid,
    /// `x * sigmoid(x)`.
    Silu,
    /// `x * sigmoid(alpha x)`.
    Swish(f32),
    /// Exact (erf) GELU.
    Gelu,
    /// Tanh-approximated GELU.
    GeluTanh,
    Softplus,
    Mish,
    Relu,
    LeakyRelu(f32),
    /// Clamp to `[lo, hi]`.
    Clip(f32, f32),
    /// `clamp(alpha x + beta, 0, 1)`.
    HardSigmoid(f32, f32),
    HardSwish,
    Elu(f32),
    /// `(alpha, gamma)`.
    Selu(f32, f32),
    Celu(f32),
    Softsign,
    ThresholdedRelu(f32),
    /// `alpha x + beta`.
    Affine(f32, f32),
    /// `alpha tanh(beta x)`.
    ScaledTanh(f32, f32),
    Abs,
    Neg,
    Sqrt,
    Reciprocal,
}

/// A binary f32 operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinFn {
    Add,
    Sub,
    Mul,
    Div,
    /// `if b > a { b } else { a }` (NaN in `a` propagates).
    Max,
    Min,
}

/// Runs `f` over `n` lanes-wide chunks of `src` into `dst` (which may be the same memory),
/// the tail through a stack buffer.
#[inline(always)]
unsafe fn lanes<V: F32x>(src: *const f32, dst: *mut f32, n: usize, rows: usize, stride: usize, f: impl Fn(V) -> V) {
    for r in 0..rows {
        // SAFETY: the caller's rows are `stride` apart.
        unsafe { lanes_row(src.add(r * stride), dst.add(r * stride), n, &f) }
    }
}

/// One row of [`lanes`].
#[inline(always)]
unsafe fn lanes_row<V: F32x>(src: *const f32, dst: *mut f32, n: usize, f: &impl Fn(V) -> V) {
    let mut i = 0;
    while i + 4 * V::N <= n {
        let a = f(V::load(src.add(i)));
        let b = f(V::load(src.add(i + V::N)));
        let c = f(V::load(src.add(i + 2 * V::N)));
        let d = f(V::load(src.add(i + 3 * V::N)));
        a.store(dst.add(i));
        b.store(dst.add(i + V::N));
        c.store(dst.add(i + 2 * V::N));
        d.store(dst.add(i + 3 * V::N));
        i += 4 * V::N;
    }
    while i + V::N <= n {
        f(V::load(src.add(i))).store(dst.add(i));
        i += V::N;
    }
    if i < n {
        let mut buf = [0f32; 16];
        std::ptr::copy_nonoverlapping(src.add(i), buf.as_mut_ptr(), n - i);
        f(V::load(buf.as_ptr())).store(buf.as_mut_ptr());
        std::ptr::copy_nonoverlapping(buf.as_ptr(), dst.add(i), n - i);
    }
}

/// Two-input version of [`lanes`]; `sa`/`sb` false means the operand is one broadcast value.
#[inline(always)]
unsafe fn lanes2<V: F32x>(
    a: *const f32,
    sa: bool,
    b: *const f32,
    sb: bool,
    dst: *mut f32,
    n: usize,
    f: impl Fn(V, V) -> V,
) {
    let av = if sa { V::splat(0.0) } else { V::splat(*a) };
    let bv = if sb { V::splat(0.0) } else { V::splat(*b) };
    let ld = |p: *const f32, strided: bool, splat: V, i: usize| if strided { V::load(p.add(i)) } else { splat };
    let mut i = 0;
    while i + 2 * V::N <= n {
        let x = f(ld(a, sa, av, i), ld(b, sb, bv, i));
        let y = f(ld(a, sa, av, i + V::N), ld(b, sb, bv, i + V::N));
        x.store(dst.add(i));
        y.store(dst.add(i + V::N));
        i += 2 * V::N;
    }
    while i + V::N <= n {
        f(ld(a, sa, av, i), ld(b, sb, bv, i)).store(dst.add(i));
        i += V::N;
    }
    if i < n {
        let (mut ba, mut bb, mut bo) = ([0f32; 16], [0f32; 16], [0f32; 16]);
        if sa {
            std::ptr::copy_nonoverlapping(a.add(i), ba.as_mut_ptr(), n - i);
        }
        if sb {
            std::ptr::copy_nonoverlapping(b.add(i), bb.as_mut_ptr(), n - i);
        }
        let x = if sa { V::load(ba.as_ptr()) } else { av };
        let y = if sb { V::load(bb.as_ptr()) } else { bv };
        f(x, y).store(bo.as_mut_ptr());
        std::ptr::copy_nonoverlapping(bo.as_ptr(), dst.add(i), n - i);
    }
}

macro_rules! unary_body {
    ($V:ty, $f:expr, $s:expr, $d:expr, $n:expr, $rows:expr, $stride:expr) => {{
        type V = $V;
        use math::*;
        let (s, d, n, rows, stride) = ($s, $d, $n, $rows, $stride);
        let k = |v: f32| V::splat(v);
        match $f {
            UnaryFn::Exp => lanes::<V>(s, d, n, rows, stride, |x| exp(x)),
            UnaryFn::Expm1 => lanes::<V>(s, d, n, rows, stride, |x| expm1(x)),
            UnaryFn::Log => lanes::<V>(s, d, n, rows, stride, |x| log(x)),
            UnaryFn::Erf => lanes::<V>(s, d, n, rows, stride, |x| erf(x)),
            UnaryFn::Tanh => lanes::<V>(s, d, n, rows, stride, |x| tanh(x)),
            UnaryFn::Sigmoid => lanes::<V>(s, d, n, rows, stride, |x| sigmoid(x)),
            UnaryFn::Silu => lanes::<V>(s, d, n, rows, stride, |x| silu(x)),
            UnaryFn::Swish(a) => lanes::<V>(s, d, n, rows, stride, |x| x.mul(sigmoid(x.mul(k(a))))),
            UnaryFn::Gelu => lanes::<V>(s, d, n, rows, stride, |x| gelu(x)),
            UnaryFn::GeluTanh => lanes::<V>(s, d, n, rows, stride, |x| gelu_tanh(x)),
            UnaryFn::Softplus => lanes::<V>(s, d, n, rows, stride, |x| softplus(x)),
            UnaryFn::Mish => lanes::<V>(s, d, n, rows, stride, |x| mish(x)),
            UnaryFn::Relu => lanes::<V>(s, d, n, rows, stride, |x| x.max(k(0.0))),
            UnaryFn::LeakyRelu(a) => lanes::<V>(s, d, n, rows, stride, |x| V::select(x.lt(k(0.0)), x.mul(k(a)), x)),
            UnaryFn::Clip(lo, hi) => lanes::<V>(s, d, n, rows, stride, |x| x.max(k(lo)).min(k(hi))),
            UnaryFn::HardSigmoid(a, b) => {
                lanes::<V>(s, d, n, rows, stride, |x| x.fma(k(a), k(b)).max(k(0.0)).min(k(1.0)))
            }
            UnaryFn::HardSwish => lanes::<V>(s, d, n, rows, stride, |x| {
                V::select(x.gt(k(3.0)), x, x.mul(x.add(k(3.0)).max(k(0.0)).min(k(6.0))).div(k(6.0)))
            }),
            UnaryFn::Elu(a) => lanes::<V>(s, d, n, rows, stride, |x| V::select(x.lt(k(0.0)), expm1(x).mul(k(a)), x)),
            UnaryFn::Selu(a, g) => {
                lanes::<V>(s, d, n, rows, stride, |x| V::select(x.le(k(0.0)), expm1(x).mul(k(a * g)), x.mul(k(g))))
            }
            UnaryFn::Celu(a) => {
                lanes::<V>(s, d, n, rows, stride, |x| x.max(k(0.0)).add(expm1(x.div(k(a))).mul(k(a)).min(k(0.0))))
            }
            UnaryFn::Softsign => lanes::<V>(s, d, n, rows, stride, |x| x.div(k(1.0).add(x.abs()))),
            UnaryFn::ThresholdedRelu(a) => lanes::<V>(s, d, n, rows, stride, |x| V::select(x.gt(k(a)), x, k(0.0))),
            UnaryFn::Affine(a, b) => lanes::<V>(s, d, n, rows, stride, |x| x.fma(k(a), k(b))),
            UnaryFn::ScaledTanh(a, b) => lanes::<V>(s, d, n, rows, stride, |x| tanh(x.mul(k(b))).mul(k(a))),
            UnaryFn::Abs => lanes::<V>(s, d, n, rows, stride, |x| x.abs()),
            UnaryFn::Neg => lanes::<V>(s, d, n, rows, stride, |x| x.neg()),
            UnaryFn::Sqrt => lanes::<V>(s, d, n, rows, stride, |x| x.sqrt()),
            UnaryFn::Reciprocal => lanes::<V>(s, d, n, rows, stride, |x| k(1.0).div(x)),
        }
    }};
}

macro_rules! binary_body {
    ($V:ty, $f:expr, $a:expr, $sa:expr, $b:expr, $sb:expr, $d:expr, $n:expr) => {{
        type V = $V;
        let (a, sa, b, sb, d, n) = ($a, $sa, $b, $sb, $d, $n);
        match $f {
            BinFn::Add => lanes2::<V>(a, sa, b, sb, d, n, |x, y| x.add(y)),
            BinFn::Sub => lanes2::<V>(a, sa, b, sb, d, n, |x, y| x.sub(y)),
            BinFn::Mul => lanes2::<V>(a, sa, b, sb, d, n, |x, y| x.mul(y)),
            BinFn::Div => lanes2::<V>(a, sa, b, sb, d, n, |x, y| x.div(y)),
            BinFn::Max => lanes2::<V>(a, sa, b, sb, d, n, |x, y| x.max(y)),
            BinFn::Min => lanes2::<V>(a, sa, b, sb, d, n, |x, y| x.min(y)),
        }
    }};
}

/// Row reductions: `(sum, max)` need different identities, so two loops.
macro_rules! reduce_body {
    ($V:ty, $x:expr, $n:expr, $init:expr, $op:expr, $h:ident, $scalar:expr) => {{
        type V = $V;
        let (x, n) = ($x, $n);
        let op = $op;
        let mut acc = [V::splat($init); 4];
        let mut i = 0;
        while i + 4 * V::N <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                *a = op(*a, V::load(x.add(i + j * V::N)));
            }
            i += 4 * V::N;
        }
        while i + V::N <= n {
            acc[0] = op(acc[0], V::load(x.add(i)));
            i += V::N;
        }
        let v = op(op(acc[0], acc[1]), op(acc[2], acc[3]));
        let mut r = v.$h();
        let f: fn(f32, f32) -> f32 = $scalar;
        while i < n {
            r = f(r, *x.add(i));
            i += 1;
        }
        r
    }};
}

/// `y = e^(x - m)`, returning the sum of `y` (the softmax inner loop).
macro_rules! exp_sum_body {
    ($V:ty, $x:expr, $m:expr, $y:expr, $n:expr) => {{
        type V = $V;
        let (x, y, n) = ($x, $y, $n);
        let mv = V::splat($m);
        let mut acc = V::splat(0.0);
        let mut i = 0;
        while i + V::N <= n {
            let e = math::exp(V::load(x.add(i)).sub(mv));
            e.store(y.add(i));
            acc = acc.add(e);
            i += V::N;
        }
        let mut s = acc.hsum();
        if i < n {
            let mut buf = [f32::NEG_INFINITY; 16];
            std::ptr::copy_nonoverlapping(x.add(i), buf.as_mut_ptr(), n - i);
            let e = math::exp(V::load(buf.as_ptr()).sub(mv));
            e.store(buf.as_mut_ptr());
            for (j, &v) in buf[..n - i].iter().enumerate() {
                *y.add(i + j) = v;
                s += v;
            }
        }
        s
    }};
}

/// `sum(x[i] * y[i])`.
macro_rules! dot_body {
    ($V:ty, $x:expr, $y:expr, $n:expr) => {{
        type V = $V;
        let (x, y, n) = ($x, $y, $n);
        let mut acc = [V::splat(0.0); 4];
        let mut i = 0;
        while i + 4 * V::N <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                *a = V::load(x.add(i + j * V::N)).fma(V::load(y.add(i + j * V::N)), *a);
            }
            i += 4 * V::N;
        }
        while i + V::N <= n {
            acc[0] = V::load(x.add(i)).fma(V::load(y.add(i)), acc[0]);
            i += V::N;
        }
        let mut r = acc[0].add(acc[1]).add(acc[2].add(acc[3])).hsum();
        while i < n {
            r += *x.add(i) * *y.add(i);
            i += 1;
        }
        r
    }};
}

macro_rules! entry_points {
    ($unary:ident, $binary:ident, $sum:ident, $max:ident, $expsum:ident, $dot:ident, $V:ty $(, $feat:literal)?) => {
        $(#[target_feature(enable = $feat)])?
        unsafe fn $dot(x: *const f32, y: *const f32, n: usize) -> f32 {
            dot_body!($V, x, y, n)
        }
        $(#[target_feature(enable = $feat)])?
        unsafe fn $unary(f: UnaryFn, s: *const f32, d: *mut f32, n: usize, rows: usize, stride: usize) {
            unary_body!($V, f, s, d, n, rows, stride)
        }
        $(#[target_feature(enable = $feat)])?
        #[allow(clippy::too_many_arguments)]
        unsafe fn $binary(f: BinFn, a: *const f32, sa: bool, b: *const f32, sb: bool, d: *mut f32, n: usize) {
            binary_body!($V, f, a, sa, b, sb, d, n)
        }
        $(#[target_feature(enable = $feat)])?
        unsafe fn $sum(x: *const f32, n: usize) -> f32 {
            reduce_body!($V, x, n, 0.0, |a: $V, b: $V| a.add(b), hsum, |a, b| a + b)
        }
        $(#[target_feature(enable = $feat)])?
        unsafe fn $max(x: *const f32, n: usize) -> f32 {
            reduce_body!($V, x, n, f32::NEG_INFINITY, |a: $V, b: $V| <$V>::select(b.is_nan(), b, a.max(b)), hmax, |a, b| if b > a || b.is_nan() { b } else { a })
        }
        $(#[target_feature(enable = $feat)])?
        unsafe fn $expsum(x: *const f32, m: f32, y: *mut f32, n: usize) -> f32 {
            exp_sum_body!($V, x, m, y, n)
        }
    };
}

entry_points!(unary_scalar, binary_scalar, sum_scalar, max_scalar, expsum_scalar, dot_scalar, Scalar);
#[cfg(target_arch = "x86_64")]
entry_points!(unary_avx2, binary_avx2, sum_avx2, max_avx2, expsum_avx2, dot_avx2, Avx2, "avx2,fma");
#[cfg(target_arch = "x86_64")]
entry_points!(unary_avx512, binary_avx512, sum_avx512, max_avx512, expsum_avx512, dot_avx512, Avx512, "avx512f");

/// Picks the entry point for [`level`].
macro_rules! dispatch {
    ($lvl:expr, $scalar:ident, $avx2:ident, $avx512:ident, ($($arg:expr),*)) => {{
        // SAFETY: the AVX paths are only taken when `level()` detected the features; the
        // pointer arguments are checked by the safe caller.
        #[allow(unused_unsafe)]
        unsafe {
            match $lvl {
                #[cfg(target_arch = "x86_64")]
                Level::Avx512 => $avx512($($arg),*),
                #[cfg(target_arch = "x86_64")]
                Level::Avx2 => $avx2($($arg),*),
                _ => $scalar($($arg),*),
            }
        }
    }};
}

fn unary_at(lvl: Level, f: UnaryFn, s: *const f32, d: *mut f32, n: usize) {
    dispatch!(lvl, unary_scalar, unary_avx2, unary_avx512, (f, s, d, n, 1, 0))
}

/// `dst[i] = f(src[i])`. Panics if the lengths differ (a caller bug, not user input).
pub fn map(f: UnaryFn, src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "simd::map length mismatch");
    unary_at(level(), f, src.as_ptr(), dst.as_mut_ptr(), src.len())
}

/// `x[i] = f(x[i])` in place.
pub fn map_inplace(f: UnaryFn, x: &mut [f32]) {
    let p = x.as_mut_ptr();
    unary_at(level(), f, p, p, x.len())
}

/// `f` in place on `rows` rows of `cols` values, `stride` apart, starting at `p` (one dispatch for
/// a whole tile: the GEMM applies its activation this way right after storing a register tile).
///
/// # Safety
/// Every addressed element must be valid for reads and writes, and not aliased elsewhere.
pub unsafe fn map_rows_inplace(f: UnaryFn, p: *mut f32, rows: usize, cols: usize, stride: usize) {
    // One dispatch for the whole tile: per row, the level and function dispatch cost as much as
    // the 32 values of a GEMM tile's row (EfficientNet's SiLU convs).
    dispatch!(level(), unary_scalar, unary_avx2, unary_avx512, (f, p, p, cols, rows, stride))
}

/// [`map`] at an explicit level (tests compare the levels); falls back to scalar when the CPU
/// lacks the requested one.
pub fn map_at(lvl: Level, f: UnaryFn, src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "simd::map length mismatch");
    let lvl = if available(lvl) { lvl } else { Level::Scalar };
    unary_at(lvl, f, src.as_ptr(), dst.as_mut_ptr(), src.len())
}

/// Whether this CPU can run `lvl`.
pub fn available(lvl: Level) -> bool {
    match lvl {
        Level::Scalar => true,
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => is_x86_feature_detected!("avx512f"),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

fn binary_at(f: BinFn, a: *const f32, sa: bool, b: *const f32, sb: bool, d: *mut f32, n: usize) {
    dispatch!(level(), binary_scalar, binary_avx2, binary_avx512, (f, a, sa, b, sb, d, n))
}

/// `out[i] = a[i] op b[i]`.
pub fn binary(f: BinFn, a: &[f32], b: &[f32], out: &mut [f32]) {
    assert!(a.len() == out.len() && b.len() == out.len(), "simd::binary length mismatch");
    binary_at(f, a.as_ptr(), true, b.as_ptr(), true, out.as_mut_ptr(), out.len())
}

/// `out[i] = a[i] op b`.
pub fn binary_vs(f: BinFn, a: &[f32], b: f32, out: &mut [f32]) {
    assert_eq!(a.len(), out.len(), "simd::binary_vs length mismatch");
    binary_at(f, a.as_ptr(), true, &b, false, out.as_mut_ptr(), out.len())
}

/// `out[i] = a op b[i]`.
pub fn binary_sv(f: BinFn, a: f32, b: &[f32], out: &mut [f32]) {
    assert_eq!(b.len(), out.len(), "simd::binary_sv length mismatch");
    binary_at(f, &a, false, b.as_ptr(), true, out.as_mut_ptr(), out.len())
}

/// `x[i] = x[i] op b[i]` in place.
pub fn binary_inplace(f: BinFn, x: &mut [f32], b: &[f32]) {
    assert_eq!(x.len(), b.len(), "simd::binary_inplace length mismatch");
    let p = x.as_mut_ptr();
    binary_at(f, p, true, b.as_ptr(), true, p, b.len())
}

/// `x[i] = x[i] op b` in place.
pub fn binary_vs_inplace(f: BinFn, x: &mut [f32], b: f32) {
    let p = x.as_mut_ptr();
    binary_at(f, p, true, &b, false, p, x.len())
}

/// Sum of `x` (eight-way split lanes, so the rounding differs from a sequential sum).
pub fn sum(x: &[f32]) -> f32 {
    dispatch!(level(), sum_scalar, sum_avx2, sum_avx512, (x.as_ptr(), x.len()))
}

/// Maximum of `x` (NaN if any element is NaN; -inf for an empty slice).
pub fn max(x: &[f32]) -> f32 {
    dispatch!(level(), max_scalar, max_avx2, max_avx512, (x.as_ptr(), x.len()))
}

/// `sum(x[i] * y[i])`.
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "simd::dot length mismatch");
    dispatch!(level(), dot_scalar, dot_avx2, dot_avx512, (x.as_ptr(), y.as_ptr(), x.len()))
}

/// `y[i] = e^(x[i] - m)`; returns the sum of `y`.
pub fn exp_sub_sum(x: &[f32], m: f32, y: &mut [f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "simd::exp_sub_sum length mismatch");
    dispatch!(level(), expsum_scalar, expsum_avx2, expsum_avx512, (x.as_ptr(), m, y.as_mut_ptr(), x.len()))
}

/// `y[i] = x[i] * a + b` (auto-vectorised; a single rounding per operation, like the reference).
pub fn scale_shift(x: &[f32], a: f32, b: f32, y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = v * a + b;
    }
}

/// [`map`] split over the intra-op pool when large.
pub fn par_map(f: UnaryFn, src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "simd::par_map length mismatch");
    par::for_chunks(dst, 16, |start, chunk| map(f, &src[start..start + chunk.len()], chunk));
}

/// [`map_inplace`] split over the intra-op pool when large.
pub fn par_map_inplace(f: UnaryFn, x: &mut [f32]) {
    par::for_chunks(x, 16, |_, chunk| map_inplace(f, chunk));
}

/// Runs `f` compiled for AVX2+FMA when the CPU has them (the lane arrays become vectors).
#[inline(always)]
pub fn with_avx2(f: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(f: impl FnOnce()) {
            f()
        }
        if level() != Level::Scalar {
            // SAFETY: the CPU supports AVX2 and FMA (detected by `simd::level`).
            unsafe { avx2(f) };
            return;
        }
    }
    f()
}
