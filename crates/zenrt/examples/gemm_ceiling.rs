//! SGEMM throughput of zenrt's own GEMM (`zenrt::core::ops::gemm::gemm`, whichever kernel is current), for
//! `scripts/gemm_ceiling.py`.
//!
//!     cargo run --release -p zenrt --example gemm_ceiling -- [--sizes 512,1024,2048] [--threads 1,2] [--min-secs 0.5]
//!
//! For each square size n and thread count it times C = A·B (f32, n×n, row-major) repeatedly (at least 3 runs
//! and `--min-secs` seconds after one warm-up) and prints one JSON line per configuration: the best and the
//! median run time and their GFLOP/s (2·n³ per product). The GEMM itself is single-threaded; with `--threads T >
//! 1` this program splits C's rows into T blocks and runs one `gemm` per block on its own thread: the simplest
//! parallelisation, which zenrt's executor does not do by itself today.

use std::time::Instant;
use zenrt::core::ops::gemm::gemm;

fn arg_list(args: &[String], flag: &str, default: &str) -> Vec<String> {
    let v = args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map_or(default, |s| s.as_str());
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// C = A·B with C's rows split over `threads` scoped threads: each thread owns a contiguous block of rows of C
/// (and reads the same rows of A and all of B); each block is one checked `gemm` call.
fn product(n: usize, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) -> zenrt::Result<()> {
    if threads <= 1 {
        return gemm(n, n, n, (a, n, 1), (b, n, 1), 0.0, c, n, 1);
    }
    let rows = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = c
            .chunks_mut(rows * n)
            .zip(a.chunks(rows * n))
            .map(|(c_blk, a_blk)| {
                s.spawn(move || gemm(c_blk.len() / n, n, n, (a_blk, n, 1), (b, n, 1), 0.0, c_blk, n, 1))
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join().unwrap_or_else(|_| Err(zenrt::Error::Unsupported("gemm thread panicked".into())))
        })
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = arg_list(&args, "--sizes", "512,1024,2048").iter().filter_map(|s| s.parse().ok()).collect();
    let threads: Vec<usize> = arg_list(&args, "--threads", "1,2").iter().filter_map(|s| s.parse().ok()).collect();
    let min_secs: f64 = arg_list(&args, "--min-secs", "0.5").first().and_then(|s| s.parse().ok()).unwrap_or(0.5);
    for &n in &sizes {
        // Deterministic, non-trivial data (denormal-free, bounded).
        let a: Vec<f32> = (0..n * n).map(|i| ((i * 7 + 3) % 17) as f32 / 17.0 - 0.5).collect();
        let b: Vec<f32> = (0..n * n).map(|i| ((i * 5 + 1) % 13) as f32 / 13.0 - 0.5).collect();
        let mut c = vec![0f32; n * n];
        for &t in &threads {
            if let Err(e) = product(n, &a, &b, &mut c, t) {
                eprintln!("gemm_ceiling: n={n} threads={t}: {e}");
                std::process::exit(1);
            }
            // Spot check one element against a float64 dot product, so a broken kernel cannot post a number.
            let (i, j) = (n / 3, n / 2);
            let want: f64 = (0..n).map(|k| a[i * n + k] as f64 * b[k * n + j] as f64).sum();
            if (c[i * n + j] as f64 - want).abs() > 1e-3 * (1.0 + want.abs()) {
                eprintln!("gemm_ceiling: n={n} threads={t}: wrong result {} vs {want}", c[i * n + j]);
                std::process::exit(1);
            }
            let mut times = Vec::new();
            let start = Instant::now();
            while times.len() < 3 || start.elapsed().as_secs_f64() < min_secs {
                let t0 = Instant::now();
                let _ = product(n, &a, &b, &mut c, t);
                times.push(t0.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            let (best, median) = (times[0], times[times.len() / 2]);
            let flop = 2.0 * (n as f64).powi(3);
            println!(
                "{{\"impl\":\"zenrt\",\"n\":{n},\"threads\":{t},\"runs\":{},\"best_ms\":{:.4},\"median_ms\":{:.4},\
                 \"gflops_best\":{:.3},\"gflops_median\":{:.3}}}",
                times.len(),
                best * 1e3,
                median * 1e3,
                flop / best / 1e9,
                flop / median / 1e9
            );
        }
    }
}
