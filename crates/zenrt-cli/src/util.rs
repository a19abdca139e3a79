//! Errors, number formatting, a seeded random generator and tensor summaries.

use std::sync::atomic::{AtomicBool, Ordering};
use zenrt::{DType, Tensor};

/// The CLI's error: a zenrt error (shown with its whole chain) or a usage problem.
#[derive(Debug)]
pub enum CliError {
    Zen(zenrt::Error),
    Msg(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Zen(e) => write!(f, "{e}"),
            CliError::Msg(m) => f.write_str(m),
        }
    }
}

impl From<zenrt::Error> for CliError {
    fn from(e: zenrt::Error) -> Self {
        CliError::Zen(e)
    }
}

impl From<String> for CliError {
    fn from(m: String) -> Self {
        CliError::Msg(m)
    }
}

pub type CliResult<T> = Result<T, CliError>;

static QUIET_PANICS: AtomicBool = AtomicBool::new(false);

/// Whether the panic hook stays silent (conformance runs catch and record panics per case).
pub fn quiet_panics() -> bool {
    QUIET_PANICS.load(Ordering::Relaxed)
}

pub fn set_quiet_panics(q: bool) {
    QUIET_PANICS.store(q, Ordering::Relaxed)
}

/// A number in a short, readable form.
pub fn fmt_num(v: f64, dtype: DType) -> String {
    if dtype == DType::Bool {
        return if v != 0.0 { "true".into() } else { "false".into() };
    }
    if !dtype.is_float() || v.is_nan() || v.is_infinite() {
        return if v.is_finite() { format!("{}", v as i128) } else { format!("{v}") };
    }
    let a = v.abs();
    if a == 0.0 || (1e-4..1e6).contains(&a) {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "-0".into()
        } else {
            s.to_string()
        }
    } else {
        format!("{v:.4e}")
    }
}

/// One line describing a tensor: dtype, shape, min/max/mean and its first values.
pub fn summary(t: &Tensor) -> String {
    let dt = t.dtype();
    let shape = format!("{dt}[{}]", t.shape().iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","));
    if t.is_empty() {
        return format!("{shape} (empty)");
    }
    let v = t.to_f64_vec();
    let (mut min, mut max, mut sum, mut nan) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
    for &x in &v {
        if x.is_nan() {
            nan += 1;
            continue;
        }
        min = min.min(x);
        max = max.max(x);
        sum += x;
    }
    let counted = v.len() - nan;
    let stats = if counted == 0 {
        "all NaN".to_string()
    } else {
        let mean = sum / counted as f64;
        let mean_s = fmt_num(mean, if dt.is_float() { dt } else { DType::F64 });
        format!("min={} max={} mean={mean_s}", fmt_num(min, dt), fmt_num(max, dt))
    };
    let nan_s = if nan > 0 && counted > 0 { format!(" nan={nan}") } else { String::new() };
    const SHOW: usize = 6;
    let first: Vec<String> = v.iter().take(SHOW).map(|&x| fmt_num(x, dt)).collect();
    let more = if v.len() > SHOW { ", ..." } else { "" };
    format!("{shape} {stats}{nan_s} [{}{more}]", first.join(", "))
}

/// SplitMix64: small, seeded, good enough for test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_2E27_0000_0001)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A random tensor: floats uniform in [-1, 1), integers in [0, 4), bools fair.
pub fn random_tensor(dtype: DType, shape: Vec<usize>, rng: &mut Rng) -> zenrt::Result<Tensor> {
    let n = zenrt::core::checked_numel(&shape, dtype, "random input")?;
    let vals: Vec<f64> = (0..n)
        .map(|_| {
            if dtype.is_float() {
                rng.unit() * 2.0 - 1.0
            } else if dtype == DType::Bool {
                (rng.next_u64() & 1) as f64
            } else {
                (rng.next_u64() % 4) as f64
            }
        })
        .collect();
    Tensor::from_vec(shape, vals)?.cast(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(fmt_num(1.5, DType::F32), "1.5");
        assert_eq!(fmt_num(0.0, DType::F32), "0");
        assert_eq!(fmt_num(1e-7, DType::F32), "1.0000e-7");
        assert_eq!(fmt_num(3.0, DType::I64), "3");
        assert_eq!(fmt_num(1.0, DType::Bool), "true");
        assert_eq!(fmt_num(f64::NAN, DType::F32), "NaN");
    }

    #[test]
    fn summarizes() {
        let t = Tensor::from_vec(vec![2, 2], vec![1.0f32, f32::NAN, -3.0, 2.0]).unwrap();
        assert_eq!(summary(&t), "float32[2,2] min=-3 max=2 mean=0 nan=1 [1, NaN, -3, 2]");
    }

    #[test]
    fn random_inputs_have_the_right_type() {
        let mut r = Rng::new(1);
        for dt in [DType::F32, DType::I64, DType::Bool, DType::U8, DType::F16] {
            let t = random_tensor(dt, vec![3, 4], &mut r).unwrap();
            assert_eq!((t.dtype(), t.shape()), (dt, &[3, 4][..]));
            assert!(t.to_f64_vec().iter().all(|&x| (-1.0..4.0).contains(&x)));
        }
        let a = random_tensor(DType::F32, vec![8], &mut Rng::new(7)).unwrap();
        let b = random_tensor(DType::F32, vec![8], &mut Rng::new(7)).unwrap();
        assert_eq!(a, b);
    }
}
