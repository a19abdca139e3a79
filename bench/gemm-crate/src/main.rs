//! Times the `gemm` crate's f32 product on the shapes of `scripts/gemm_ceiling.py` and prints one JSON line per
//! shape and thread count, in the format of zenrt's `gemm_ceiling` example (so the script puts both in one table).
//!
//!     cargo run --release --manifest-path bench/gemm-crate/Cargo.toml -- --shapes 512,64x3136x576a --threads 1,2
//!
//! Shapes are `n` or `MxNxK` (A row-major `M×K`, B row-major `K×N`); a trailing `a`/`b` (a pre-packed weight in
//! zenrt) is accepted and ignored: the crate has no pre-packing, it packs both operands on every call. Threads:
//! `Parallelism::None` at 1, else `Parallelism::Rayon(T)` inside a rayon pool of T threads.

use std::time::Instant;

fn arg_list(args: &[String], flag: &str, default: &str) -> Vec<String> {
    let v = args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map_or(default, |s| s.as_str());
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn dims(s: &str) -> Option<(usize, usize, usize)> {
    let d: Vec<usize> = s.trim_end_matches(['a', 'b']).split('x').filter_map(|x| x.parse().ok()).collect();
    match d[..] {
        [n] => Some((n, n, n)),
        [m, n, k] => Some((m, n, k)),
        _ => None,
    }
}

fn run(name: &str, (m, n, k): (usize, usize, usize), threads: usize, min_secs: f64) -> Result<String, String> {
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 + 3) % 17) as f32 / 17.0 - 0.5).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 + 1) % 13) as f32 / 13.0 - 0.5).collect();
    let mut c = vec![0f32; m * n];
    let par = if threads <= 1 { gemm::Parallelism::None } else { gemm::Parallelism::Rayon(threads) };
    let product = |c: &mut [f32]| {
        // SAFETY: A is m×k (row stride k), B k×n (row stride n), C m×n (row stride n), all allocated above;
        // dst = 0·dst + 1·A·B with read_dst false.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                par,
            )
        }
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().map_err(|e| e.to_string())?;
    pool.install(|| {
        product(&mut c);
        for (i, j) in [(m / 3, n / 2), (m - 1, n - 1), (0, 0)] {
            let want: f64 = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum();
            if (c[i * n + j] as f64 - want).abs() > 1e-3 * (1.0 + want.abs()) {
                return Err(format!("wrong result {} vs {want}", c[i * n + j]));
            }
        }
        let mut times = Vec::new();
        let start = Instant::now();
        while times.len() < 3 || start.elapsed().as_secs_f64() < min_secs {
            let t0 = Instant::now();
            product(&mut c);
            times.push(t0.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let (best, median) = (times[0], times[times.len() / 2]);
        let flop = 2.0 * (m * n * k) as f64;
        Ok(format!(
            "{{\"impl\":\"gemm-crate\",\"version\":\"0.18\",\"shape\":\"{name}\",\"threads\":{threads},\"runs\":{},\
             \"best_ms\":{:.4},\"median_ms\":{:.4},\"gflops_best\":{:.3},\"gflops_median\":{:.3}}}",
            times.len(),
            best * 1e3,
            median * 1e3,
            flop / best / 1e9,
            flop / median / 1e9
        ))
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: Vec<usize> = arg_list(&args, "--threads", "1,2").iter().filter_map(|s| s.parse().ok()).collect();
    let min_secs: f64 = arg_list(&args, "--min-secs", "0.5").first().and_then(|s| s.parse().ok()).unwrap_or(0.5);
    for name in arg_list(&args, "--shapes", "512,1024,2048") {
        let Some(d) = dims(&name) else {
            eprintln!("gemm-crate-bench: bad shape {name}");
            std::process::exit(2);
        };
        for &t in &threads {
            match run(&name, d, t, min_secs) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("gemm-crate-bench: {name} threads={t}: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
}
