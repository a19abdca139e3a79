//! Accuracy of the vector functions against float64 references, on dense sweeps and special
//! values, at every level the CPU has (scalar, AVX2, AVX-512).

use super::*;
use crate::ops::elementwise::common::erf as erf64;

/// Distance in units in the last place of f32 between `got` and the f64 `want`. The ulp is
/// that of `want`, but at least 2^-140: results deep in the subnormal range (|want| < 2^-117)
/// are judged by an absolute error in units of 2^-140 (about 7e-43).
fn ulps(got: f32, want: f64) -> f64 {
    if want.is_nan() {
        return if got.is_nan() { 0.0 } else { f64::INFINITY };
    }
    if got.is_nan() {
        return f64::INFINITY;
    }
    let w = want as f32;
    if w.is_infinite() || got.is_infinite() {
        return if got == w { 0.0 } else { f64::INFINITY };
    }
    let scale = want.abs().log2().floor().max(-117.0);
    let ulp = 2f64.powf(scale - 23.0);
    ((got as f64) - want).abs() / ulp
}

fn sweep(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    (0..n).map(|i| lo + (hi - lo) * (i as f32 / (n - 1) as f32)).collect()
}

fn specials() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-40,
        -1e-40,
        f32::from_bits(1),
        f32::MAX,
        f32::MIN,
        1e-30,
        -1e-30,
        1e30,
        -1e30,
    ];
    // Powers of two and neighbours across the whole range.
    for e in -40..40 {
        let p = 2f32.powi(e);
        v.extend([p, -p, p * 1.000_001, -p * 0.999_999]);
    }
    v
}

fn levels() -> Vec<Level> {
    [Level::Scalar, Level::Avx2, Level::Avx512].into_iter().filter(|l| available(*l)).collect()
}

/// Checks `f` against `reference` on `xs`; returns the worst ulp error.
fn check(f: UnaryFn, reference: impl Fn(f64) -> f64, xs: &[f32], max_ulps: f64) -> f64 {
    let mut worst: f64 = 0.0;
    for lvl in levels() {
        let mut out = vec![0f32; xs.len()];
        map_at(lvl, f, xs, &mut out);
        for (&x, &y) in xs.iter().zip(&out) {
            let want = reference(x as f64);
            let e = ulps(y, want);
            assert!(e <= max_ulps, "{f:?} at {lvl:?}: f({x:e}) = {y:e}, want {want:e} ({e:.2} ulp)");
            worst = worst.max(e);
        }
    }
    worst
}

fn all_inputs(lo: f32, hi: f32) -> Vec<f32> {
    let mut xs = sweep(lo, hi, 400_001);
    xs.extend(specials());
    xs
}

fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[test]
fn exp_accuracy() {
    let w = check(UnaryFn::Exp, f64::exp, &all_inputs(-110.0, 90.0), 2.0);
    eprintln!("exp worst {w:.2} ulp");
    let w = check(UnaryFn::Expm1, f64::exp_m1, &all_inputs(-30.0, 30.0), 3.0);
    eprintln!("expm1 worst {w:.2} ulp");
}

#[test]
fn log_accuracy() {
    let mut xs = all_inputs(0.0, 10.0);
    xs.extend(sweep(0.5, 2.0, 100_001));
    xs.extend((0..100_000).map(|i| f32::from_bits(1 + i * 40_000)));
    let w = check(UnaryFn::Log, f64::ln, &xs, 3.0);
    eprintln!("log worst {w:.2} ulp");
}

#[test]
fn tanh_sigmoid_accuracy() {
    let xs = all_inputs(-20.0, 20.0);
    let w = check(UnaryFn::Tanh, f64::tanh, &xs, 3.0);
    eprintln!("tanh worst {w:.2} ulp");
    let w = check(UnaryFn::Sigmoid, sigmoid64, &all_inputs(-110.0, 110.0), 3.0);
    eprintln!("sigmoid worst {w:.2} ulp");
    let w = check(UnaryFn::Silu, |x| x * sigmoid64(x), &all_inputs(-110.0, 110.0), 3.0);
    eprintln!("silu worst {w:.2} ulp");
}

#[test]
fn erf_gelu_accuracy() {
    let w = check(UnaryFn::Erf, erf64, &all_inputs(-6.0, 6.0), 3.0);
    eprintln!("erf worst {w:.2} ulp");
    // GELU: reference in the cancellation-free form 0.5 x erfc(-x/sqrt2) for x < 0.
    let gelu = |x: f64| {
        let z = x / std::f64::consts::SQRT_2;
        if z < 0.0 {
            0.5 * x * erfc64(-z)
        } else {
            0.5 * x * (1.0 + erf64(z))
        }
    };
    let w = check(UnaryFn::Gelu, gelu, &sweep(-5.0, 16.0, 400_001), 6.0);
    eprintln!("gelu worst {w:.2} ulp on [-5, 16]");
    let w = check(UnaryFn::Gelu, gelu, &all_inputs(-16.0, 16.0), 6.0);
    eprintln!("gelu worst {w:.2} ulp (far left tail included)");
    let k = (2.0 / std::f64::consts::PI).sqrt();
    let gt = |x: f64| x * sigmoid64(2.0 * k * (x + 0.044715 * x * x * x));
    let w = check(
        UnaryFn::GeluTanh,
        gt,
        &all_inputs(-2.0, 16.0).into_iter().filter(|x| x.is_nan() || *x >= -2.0).collect::<Vec<_>>(),
        8.0,
    );
    eprintln!("gelu_tanh worst {w:.2} ulp on [-2, 16]");
    // Left tail: the f32 rounding of the argument 2u (|2u| up to ~190) is amplified by exp.
    let w = check(UnaryFn::GeluTanh, gt, &sweep(-16.0, -2.0, 100_001), 512.0);
    eprintln!("gelu_tanh worst {w:.2} ulp on [-16, -2]");
}

/// erfc for x > 0 in f64 by the continued fraction of `common.rs` (through 1 - erf where that
/// is accurate).
fn erfc64(x: f64) -> f64 {
    if x < 2.0 {
        return 1.0 - erf64(x);
    }
    // Lentz evaluation of erfc(x) = e^-x² / sqrt(pi) / (x + 1/2/(x + 1/(x + 3/2/(x + ...)))).
    let mut f = x;
    let (mut c, mut d) = (x, 0.0f64);
    for k in 1..300 {
        let a = k as f64 * 0.5;
        d = 1.0 / (x + a * d);
        c = x + a / c;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-17 {
            break;
        }
    }
    (-x * x).exp() / (std::f64::consts::PI.sqrt() * f)
}

#[test]
fn softplus_mish_accuracy() {
    let sp = |x: f64| if x > 0.0 { x + (-x).exp().ln_1p() } else { x.exp().ln_1p() };
    let w = check(UnaryFn::Softplus, sp, &all_inputs(-100.0, 100.0), 4.0);
    eprintln!("softplus worst {w:.2} ulp");
    let w = check(UnaryFn::Mish, |x| x * sp(x).tanh(), &all_inputs(-100.0, 100.0), 4.0);
    eprintln!("mish worst {w:.2} ulp");
}

#[test]
fn cheap_functions_exact_or_close() {
    let xs = all_inputs(-10.0, 10.0);
    check(UnaryFn::Relu, |x| if x < 0.0 { 0.0 } else { x }, &xs, 0.0);
    check(UnaryFn::Abs, f64::abs, &xs, 0.0);
    check(UnaryFn::Neg, |x| -x, &xs, 0.0);
    check(UnaryFn::Sqrt, f64::sqrt, &xs, 0.5);
    check(UnaryFn::Reciprocal, |x| 1.0 / x, &xs, 0.5);
    check(UnaryFn::LeakyRelu(0.1), |x| if x < 0.0 { x * (0.1f32 as f64) } else { x }, &xs, 0.5);
    check(UnaryFn::Clip(-1.0, 2.0), |x| x.clamp(-1.0, 2.0), &xs, 0.0);
    check(UnaryFn::HardSigmoid(0.2, 0.5), |x| (x * 0.2f32 as f64 + 0.5).clamp(0.0, 1.0), &xs, 2.0);
    check(UnaryFn::HardSwish, |x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0), &xs, 2.0);
    check(UnaryFn::Elu(1.0), |x| if x < 0.0 { x.exp_m1() } else { x }, &xs, 3.0);
    check(UnaryFn::Softsign, |x| x / (1.0 + x.abs()), &xs, 1.5);
}

#[test]
fn reductions_match_f64() {
    let xs: Vec<f32> = (0..1003).map(|i| ((i * 7919) % 1000) as f32 * 0.01 - 5.0).collect();
    for n in [0, 1, 5, 16, 17, 64, 100, 1003] {
        let x = &xs[..n];
        let s64: f64 = x.iter().map(|&v| v as f64).sum();
        assert!((sum(x) as f64 - s64).abs() <= 1e-5 * (1.0 + s64.abs()), "sum n={n}");
        let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        assert_eq!(max(x), m, "max n={n}");
        let d64: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
        assert!((dot(x, x) as f64 - d64).abs() <= 1e-5 * (1.0 + d64), "dot n={n}");
        let mut y = vec![0f32; n];
        let s = exp_sub_sum(x, 1.0, &mut y);
        let want: f64 = x.iter().map(|&v| (v as f64 - 1.0).exp()).sum();
        assert!((s as f64 - want).abs() <= 1e-5 * want.max(1.0), "exp_sub_sum n={n}");
    }
    let mut x = xs.clone();
    x[500] = f32::NAN;
    assert!(max(&x).is_nan());
    x[500] = 0.0;
    x[1001] = f32::NAN;
    assert!(max(&x).is_nan());
}

#[test]
fn binary_modes() {
    let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
    let b: Vec<f32> = (0..37).map(|i| 2.0 - i as f32 * 0.25).collect();
    let mut o = vec![0f32; 37];
    for f in [BinFn::Add, BinFn::Sub, BinFn::Mul, BinFn::Div, BinFn::Max, BinFn::Min] {
        let r = |x: f32, y: f32| match f {
            BinFn::Add => x + y,
            BinFn::Sub => x - y,
            BinFn::Mul => x * y,
            BinFn::Div => x / y,
            BinFn::Max => x.max(y),
            BinFn::Min => x.min(y),
        };
        binary(f, &a, &b, &mut o);
        assert!(o.iter().enumerate().all(|(i, &v)| v.to_bits() == r(a[i], b[i]).to_bits()), "{f:?} vv");
        binary_vs(f, &a, 1.5, &mut o);
        assert!(o.iter().enumerate().all(|(i, &v)| v.to_bits() == r(a[i], 1.5).to_bits()), "{f:?} vs");
        binary_sv(f, 1.5, &b, &mut o);
        assert!(o.iter().enumerate().all(|(i, &v)| v.to_bits() == r(1.5, b[i]).to_bits()), "{f:?} sv");
    }
}

/// Throughput of the transcendental kernels on an L1-resident buffer, ns per 16 values, and of
/// SiLU over GEMM-tile-shaped rows (12 × 32, stride 96): `cargo test --release -p zenrt-core
/// unary_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn unary_timing() {
    let mut x: Vec<f32> = (0..4096).map(|i| (i as f32 * 0.37).sin() * 8.0).collect();
    for f in [UnaryFn::Exp, UnaryFn::Sigmoid, UnaryFn::Silu, UnaryFn::Tanh, UnaryFn::Gelu, UnaryFn::Relu] {
        let reps = 2000;
        let t = std::time::Instant::now();
        for _ in 0..reps {
            map_inplace(f, &mut x);
            map_inplace(UnaryFn::Affine(0.5, 0.1), &mut x);
        }
        let ns = t.elapsed().as_secs_f64() * 1e9 / (reps as f64 * 4096.0 / 16.0);
        println!("{f:?}: {ns:.2} ns / 16 values (with an affine pass)");
    }
    let mut y: Vec<f32> = (0..12 * 96).map(|i| (i as f32 * 0.37).sin() * 8.0).collect();
    let reps = 200_000;
    let t = std::time::Instant::now();
    for _ in 0..reps {
        // SAFETY: 12 rows of 32 values, 96 apart, inside `y`.
        unsafe { map_rows_inplace(UnaryFn::Silu, y.as_mut_ptr(), 12, 32, 96) };
    }
    let ns = t.elapsed().as_secs_f64() * 1e9 / (reps as f64 * 24.0);
    println!("Silu tile rows: {ns:.2} ns / 16 values");
}
