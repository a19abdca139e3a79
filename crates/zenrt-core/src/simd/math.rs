//! f32 elementary functions written once over [`F32x`] lanes.
//!
//! Range reductions are the classic ones (Cephes-style): `exp` by `x = n ln2 + r`, `log` by
//! `x = m 2^e`, `tanh` and `erf` by a small-argument odd polynomial plus an exp-based form
//! beyond it. The polynomial coefficients are our own least-squares fits (weighted by the
//! inverse of the function, on Chebyshev nodes, in float64, then rounded to f32); the errors
//! measured against float64 are listed in `docs/vector-kernels.md` and checked by the tests.

use super::vector::F32x;

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n * LN2_HI` is exact for |n| < 2^15.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

#[inline(always)]
unsafe fn c<V: F32x>(v: f32) -> V {
    V::splat(v)
}

/// Horner evaluation of `cs[0] + cs[1] x + ...`.
#[inline(always)]
unsafe fn poly<V: F32x>(x: V, cs: &[f32]) -> V {
    let mut acc = c::<V>(cs[cs.len() - 1]);
    for &k in cs[..cs.len() - 1].iter().rev() {
        acc = acc.fma(x, c(k));
    }
    acc
}

/// `(e^r - 1 - r) / r^2` on `|r| <= ln2/2` (relative error 1.3e-7 of this part, 8e-9 overall).
const EXP_Q: [f32; 5] = [0.5, 0.166_665_77, 0.041_666_94, 0.008_363_126, 0.001_389_383_2];

/// Reduces `x` (already clamped to `[-104, 88.8]`): returns `(n, r)` with `x = n ln2 + r`.
#[inline(always)]
unsafe fn exp_reduce<V: F32x>(x: V) -> (V, V) {
    let n = x.mul(c(LOG2E)).round();
    let r = n.fma(c(-LN2_HI), x);
    let r = n.fma(c(-LN2_LO), r);
    (n, r)
}

/// `e^x`. Overflows to +inf above 88.72, flushes gradually through the subnormals to 0.
#[inline(always)]
pub(crate) unsafe fn exp<V: F32x>(x: V) -> V {
    let xc = x.max(c(-104.0)).min(c(88.8));
    let (n, r) = exp_reduce(xc);
    let p = r.mul(r).fma(poly(r, &EXP_Q), r).add(c(1.0));
    // 2^n for n down to -150 (subnormal results) and up to 128 (overflow).
    p.scale2(n)
}

/// `e^x - 1`, accurate near 0.
#[inline(always)]
pub(crate) unsafe fn expm1<V: F32x>(x: V) -> V {
    let xc = x.max(c(-25.0)).min(c(20.0));
    let (n, r) = exp_reduce(xc);
    let pr = r.mul(r).fma(poly(r, &EXP_Q), r); // e^r - 1
    let s = V::pow2i(n);
    let small = pr.fma(s, s.sub(c(1.0)));
    V::select(x.gt(c(20.0)), exp(x), small)
}

/// `1 / (1 + e^-x)`, as `e^x / (1 + e^x)` for negative x (no overflow of `e^-x`, so the
/// left tail keeps its subnormal values).
#[inline(always)]
pub(crate) unsafe fn sigmoid<V: F32x>(x: V) -> V {
    let e = exp(x.abs().neg());
    let num = V::select(x.lt(c(0.0)), e, c(1.0));
    // A true division: on Zen 5 `vdivps` beats `rcp14` with a Newton step (three more FMA-pipe
    // operations): `unary_timing`, SiLU 3.19 -> 2.81 ns per 16 values, over GEMM tile rows
    // 2.96 -> 2.55 (docs/vector-kernels.md, session 11).
    num.div(c::<V>(1.0).add(e))
}

/// `x * sigmoid(x)` (SiLU / Swish).
#[inline(always)]
pub(crate) unsafe fn silu<V: F32x>(x: V) -> V {
    x.mul(sigmoid(x))
}

/// `(tanh(x)/x - 1) / x^2` as a polynomial in `x^2` on `|x| < 0.625`.
const TANH_Q: [f32; 5] = [-0.333_333_3, 0.133_328_7, -0.053_860_97, 0.021_033_172, -0.006_138_848_6];

/// `tanh(x)`.
#[inline(always)]
pub(crate) unsafe fn tanh<V: F32x>(x: V) -> V {
    let ax = x.abs();
    let x2 = x.mul(x);
    let small = x.mul(x2).fma(poly(x2, &TANH_Q), x);
    let e = exp(ax.min(c(9.1)).mul(c(2.0)));
    let large = c::<V>(1.0).sub(c::<V>(2.0).div(e.add(c(1.0)))).copysign(x);
    V::select(ax.lt(c(0.625)), small, large)
}

/// `erf(x) / x` as a polynomial in `x^2` on `|x| <= 1`. (The leading coefficient is a fitted value
/// close to 2/√π, as erf's Taylor series starts; it is a fit, not the constant.)
#[allow(clippy::approx_constant)]
const ERF_P: [f32; 7] =
    [1.128_379_2, -0.376_126_3, 0.112_836_12, -0.026_854_808, 0.005_190_053, -0.000_802_435_1, 7.898_202e-5];
/// `erfc(a) e^(a^2)` as a polynomial in `t = 1 / (1 + a)` on `0.45 <= a <= 10`.
#[allow(clippy::excessive_precision)]
const ERFC_R: [f32; 11] = [
    2.8755280254699755e-06,
    0.5640584230422974,
    0.5667079091072083,
    0.25567296147346497,
    -0.11931807547807693,
    -1.2724764347076416,
    0.6399130821228027,
    3.2672653198242188,
    -6.1004133224487305,
    4.4274582862854,
    -1.233036994934082,
];

/// `erfc(a)` for `0.45 <= a <= 10` given `a` and `a^2` as an unevaluated sum `hi + lo`.
#[inline(always)]
unsafe fn erfc_large<V: F32x>(a: V, a2_hi: V, a2_lo: V) -> V {
    let t = c::<V>(1.0).div(c::<V>(1.0).add(a));
    let r = poly(t, &ERFC_R);
    // e^-(hi + lo) = e^-hi (1 - lo), lo being tiny.
    exp(a2_hi.neg()).mul(c::<V>(1.0).sub(a2_lo)).mul(r)
}

/// `erf(x)`.
#[inline(always)]
pub(crate) unsafe fn erf<V: F32x>(x: V) -> V {
    let ax = x.abs();
    let x2 = x.mul(x);
    let small = x.mul(poly(x2, &ERF_P));
    let a = ax.min(c(4.0));
    let hi = a.mul(a);
    let lo = a.fma(a, hi.neg());
    let large = c::<V>(1.0).sub(erfc_large(a, hi, lo)).copysign(x);
    V::select(ax.lt(c(1.0)), small, large)
}

/// Exact GELU `x/2 (1 + erf(x / sqrt 2))`, with `1 + erf` computed as `erfc(-z)` for
/// `z < -0.5` (no cancellation in the left tail).
#[inline(always)]
pub(crate) unsafe fn gelu<V: F32x>(x: V) -> V {
    let z = x.mul(c(std::f32::consts::FRAC_1_SQRT_2));
    let az = z.abs();
    let small = c::<V>(1.0).add(z.mul(poly(z.mul(z), &ERF_P)));
    // z^2 = x^2 / 2 as hi + lo, exactly.
    let xx = x.mul(x);
    let xx_lo = x.fma(x, xx.neg());
    let a = az.min(c(10.0));
    // Beyond |z| = 10 (erfc(10) ~ 2e-45) erfc is 0 in f32: e^-104 rounds to 0.
    let hi = xx.mul(c(0.5)).min(c(104.0));
    let lo = V::select(az.lt(c(10.0)), xx_lo.mul(c(0.5)), c(0.0));
    let ec = erfc_large(a, hi, lo);
    let large = V::select(z.gt(c(0.0)), c::<V>(2.0).sub(ec), ec);
    // 1 + erf(z) by the polynomial only where it does not cancel (-0.5 <= z < 1).
    let use_small = z.sub(c(0.25)).abs().lt(c(0.75));
    let phi2 = V::select(use_small, small, large);
    x.mul(c(0.5)).mul(phi2)
}

/// Tanh-approximated GELU `x/2 (1 + tanh(k (x + 0.044715 x^3)))`, computed as
/// `x * sigmoid(2u)` (the same function, without cancellation for negative x).
#[inline(always)]
pub(crate) unsafe fn gelu_tanh<V: F32x>(x: V) -> V {
    let k2 = 2.0 * 0.797_884_6_f32; // 2 sqrt(2/pi)
    let u2 = x.mul(x).fma(c(0.044715 * k2), c(k2)).mul(x);
    x.mul(sigmoid(u2))
}

/// Natural logarithm: NaN below 0, -inf at 0.
#[inline(always)]
pub(crate) unsafe fn log<V: F32x>(x: V) -> V {
    let pos = x.max(c(f32::from_bits(1))); // keep the reduction on a positive finite value
    let pos = pos.min(c(f32::MAX));
    let (e, m) = pos.exp_mant();
    // m in [sqrt(1/2), sqrt(2)).
    let big = m.gt(c(std::f32::consts::SQRT_2));
    let m = V::select(big, m.mul(c(0.5)), m);
    let e = V::select(big, e.add(c(1.0)), e);
    let f = m.sub(c(1.0));
    let s = f.div(f.add(c(2.0)));
    let s2 = s.mul(s);
    // log(1+f) = 2 atanh(s) = 2s (1 + s^2/3 + s^4/5 + s^6/7 + s^8/9), |s| < 0.172.
    let series = poly(s2, &[1.0, 1.0 / 3.0, 0.2, 1.0 / 7.0, 1.0 / 9.0]);
    let lm = s.add(s).mul(series);
    let r = e.fma(c(LN2_HI), e.fma(c(LN2_LO), lm));
    // Specials: x < 0 or NaN -> NaN, 0 -> -inf, +inf -> +inf.
    let r = V::select(x.le(c(0.0)), c(f32::NEG_INFINITY), r);
    let r = V::select(x.gt(c(f32::MAX)), c(f32::INFINITY), r);
    V::select(V::or_m(x.lt(c(0.0)), x.is_nan()), c(f32::NAN), r)
}

/// `log(1 + e^x)` = `max(x, 0) + log1p(e^-|x|)`.
#[inline(always)]
pub(crate) unsafe fn softplus<V: F32x>(x: V) -> V {
    let y = exp(x.abs().neg());
    let u = c::<V>(1.0).add(y);
    // log1p(y) = log(u) - ((u - 1) - y) / u, correcting the rounding of u.
    let l = log(u).sub(u.sub(c(1.0)).sub(y).div(u));
    let l = V::select(y.lt(c(1e-7)), y, l);
    x.max(c(0.0)).add(l)
}

/// `x tanh(softplus(x))` = `x n (n + 2) / (n (n + 2) + 2)` with `n = e^x`.
#[inline(always)]
pub(crate) unsafe fn mish<V: F32x>(x: V) -> V {
    let n = exp(x.min(c(20.0)));
    let q = n.mul(n.add(c(2.0)));
    let r = x.mul(q).div(q.add(c(2.0)));
    V::select(x.gt(c(20.0)), x, r)
}
