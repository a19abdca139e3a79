//! SGEMM throughput of zenrt's own GEMM (`ops::gemm::sgemm` on the current kernel, in zenrt's thread pool), for
//! `scripts/gemm_ceiling.py`.
//!
//!     cargo run --release -p zenrt --example gemm_ceiling -- [--sizes 512,1024,2048] [--shapes MxNxK[b],...]
//!         [--threads 1,2] [--min-secs 0.5]
//!
//! `--sizes n` are square n×n·n×n products; `--shapes` adds `M×N×K` products (A row-major `M×K`, B row-major
//! `K×N`); a trailing `a` (`64x3136x576a`, conv weights) or `b` (`256x768x768b`, MatMul weights) packs that operand
//! once ahead of time, as the planner does for constant weights (`Op::prepare`), and times only the product. For each shape and thread count it times C = A·B repeatedly (at
//! least 3 runs and `--min-secs` seconds after one warm-up) inside `threads::run_in(pool(T))`, exactly as a model
//! run would, and prints one JSON line: the best and the median run time and their GFLOP/s (2·M·N·K per product),
//! and the GFLOP/s of the calling thread's mean CPU time over all runs (`gflops_cpu`: the steadier figure at one
//! thread under load; at more threads it counts the caller's share only).

use std::time::Instant;
use zenrt::core::ops::gemm::{kernels, sgemm, Epilogue, Operand, PackedMat, Strided};

fn arg_list(args: &[String], flag: &str, default: &str) -> Vec<String> {
    let v = args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map_or(default, |s| s.as_str());
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// One product to time: `m × n × k`, B pre-packed or not, and its name as given.
struct Shape {
    name: String,
    m: usize,
    n: usize,
    k: usize,
    /// Which operand is pre-packed: `Some(true)` A, `Some(false)` B.
    packed: Option<bool>,
}

fn parse_shape(s: &str) -> Option<Shape> {
    let packed = match s.as_bytes().last() {
        Some(b'a') => Some(true),
        Some(b'b') => Some(false),
        _ => None,
    };
    let d: Vec<usize> = s.trim_end_matches(['a', 'b']).split('x').filter_map(|x| x.parse().ok()).collect();
    match d[..] {
        [n] => Some(Shape { name: s.into(), m: n, n, k: n, packed }),
        [m, n, k] => Some(Shape { name: s.into(), m, n, k, packed }),
        _ => None,
    }
}

/// Seconds this thread has run on a CPU (`/proc/thread-self/schedstat`; 0 where absent). On a loaded machine the
/// one-thread product's CPU time is steadier than its wall time.
fn thread_cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace().next().and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0) * 1e-9
}

fn run(s: &Shape, threads: usize, min_secs: f64) -> zenrt::Result<String> {
    let (m, n, k) = (s.m, s.n, s.k);
    // Deterministic, non-trivial data (denormal-free, bounded).
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 + 3) % 17) as f32 / 17.0 - 0.5).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 + 1) % 13) as f32 / 13.0 - 0.5).collect();
    let mut c = vec![0f32; m * n];
    let kern = kernels::best();
    let sa = Strided::new(&a, k, m, 1, k)?;
    let sb = Strided::new(&b, k, n, n, 1)?;
    let pa = if s.packed == Some(true) { Some(PackedMat::new(&sa, kern, true)?) } else { None };
    let pb = if s.packed == Some(false) { Some(PackedMat::new(&sb, kern, false)?) } else { None };
    let aop = pa.as_ref().map_or(Operand::Src(&sa), Operand::Packed);
    let bop = pb.as_ref().map_or(Operand::Src(&sb), Operand::Packed);
    let pool = zenrt::core::threads::pool(threads);
    let product = |c: &mut [f32]| sgemm(kern, 1.0, aop, bop, 0.0, c, n, 1, &Epilogue::default());
    zenrt::core::threads::run_in(pool.as_deref(), || {
        product(&mut c)?;
        // Spot check elements against float64 dot products, so a broken kernel cannot post a number.
        for (i, j) in [(m / 3, n / 2), (m - 1, n - 1), (0, 0)] {
            let want: f64 = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum();
            if (c[i * n + j] as f64 - want).abs() > 1e-3 * (1.0 + want.abs()) {
                return Err(zenrt::Error::Unsupported(format!("wrong result {} vs {want}", c[i * n + j])));
            }
        }
        let (mut times, mut cpu) = (Vec::new(), Vec::new());
        let start = Instant::now();
        while times.len() < 3 || start.elapsed().as_secs_f64() < min_secs {
            let (t0, c0) = (Instant::now(), thread_cpu_secs());
            product(&mut c)?;
            times.push(t0.elapsed().as_secs_f64());
            cpu.push(thread_cpu_secs() - c0);
        }
        times.sort_by(f64::total_cmp);
        // The thread's run time advances in scheduler ticks: per run it is coarse, summed over all
        // runs it is exact (the mean, not the median, of the CPU time).
        let cpu_mean = cpu.iter().sum::<f64>() / cpu.len() as f64;
        let (best, median) = (times[0], times[times.len() / 2]);
        let flop = 2.0 * (m * n * k) as f64;
        Ok(format!(
            "{{\"impl\":\"zenrt\",\"shape\":\"{}\",\"m\":{m},\"n\":{n},\"k\":{k},\"packed\":\"{}\",\"threads\":{threads},\
             \"runs\":{},\"best_ms\":{:.4},\"median_ms\":{:.4},\"gflops_best\":{:.3},\"gflops_median\":{:.3},\"gflops_cpu\":{:.3}}}",
            s.name,
            match s.packed {
                Some(true) => "a",
                Some(false) => "b",
                None => "",
            },
            times.len(),
            best * 1e3,
            median * 1e3,
            flop / best / 1e9,
            flop / median / 1e9,
            flop / cpu_mean.max(1e-9) / 1e9
        ))
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut names = arg_list(&args, "--sizes", "512,1024,2048");
    if args.iter().any(|a| a == "--shapes") {
        names = arg_list(&args, "--shapes", "");
    }
    let shapes: Vec<Shape> = names.iter().filter_map(|s| parse_shape(s)).collect();
    let threads: Vec<usize> = arg_list(&args, "--threads", "1,2").iter().filter_map(|s| s.parse().ok()).collect();
    let min_secs: f64 = arg_list(&args, "--min-secs", "0.5").first().and_then(|s| s.parse().ok()).unwrap_or(0.5);
    for s in &shapes {
        for &t in &threads {
            match run(s, t, min_secs) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("gemm_ceiling: {} threads={t}: {e}", s.name);
                    std::process::exit(1);
                }
            }
        }
    }
}
