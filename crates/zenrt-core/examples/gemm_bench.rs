//! GEMM throughput on the shapes the models use: our f32 GEMM (each kernel, operands packed on the fly
//! and with the weight pre-packed as the models do) vs `matrixmultiply`.
//!
//!     cargo run --release -p zenrt-core --example gemm_bench [THREADS] [FILTER]
//!
//! With 1 thread the time is the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, Linux), so a machine
//! loaded by other processes changes the figures little; with more threads it is wall time.
//! GFLOP/s of the best of 7 batches.

use std::time::Instant;
use zenrt_core::ops::gemm::{kernels, sgemm, Epilogue, Operand, PackedMat, Strided};

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut [i64; 2]) -> i32;
}

/// Nanoseconds this thread has run on a CPU (`CLOCK_THREAD_CPUTIME_ID`; None if unsupported).
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = [0i64; 2];
    // SAFETY: `ts` is a valid timespec (two 64-bit fields on x86_64/aarch64 Linux).
    (unsafe { clock_gettime(3, &mut ts) } == 0).then(|| ts[0] as u64 * 1_000_000_000 + ts[1] as u64)
}

fn time<F: FnMut()>(mut f: F, flops: f64, cpu_time: bool) -> f64 {
    f();
    let mut best = f64::INFINITY;
    let reps = ((3e8 / flops) as usize).clamp(2, 500);
    for _ in 0..7 {
        let (t, c) = (Instant::now(), thread_cpu_ns());
        for _ in 0..reps {
            f();
        }
        let secs = match (cpu_time, c, thread_cpu_ns()) {
            (true, Some(c0), Some(c1)) => (c1 - c0) as f64 * 1e-9,
            _ => t.elapsed().as_secs_f64(),
        };
        best = best.min(secs / reps as f64);
    }
    flops / best / 1e9
}

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let filter = std::env::args().nth(2).unwrap_or_default();
    let pool = zenrt_core::threads::pool(threads);
    // (name, m, n, k, batch, weight operand: 'a' (conv weights), 'b' (Gemm/MatMul weights) or '-').
    let shapes: &[(&str, usize, usize, usize, usize, char)] = &[
        ("square 512", 512, 512, 512, 1, 'b'),
        ("square 1024", 1024, 1024, 1024, 1, 'b'),
        ("resnet conv1 im2col", 64, 12544, 147, 1, 'a'),
        ("resnet 1x1 64->256 56x56", 256, 3136, 64, 1, 'a'),
        ("resnet 3x3 64 56x56", 64, 3136, 576, 1, 'a'),
        ("resnet 3x3 128 28x28", 128, 784, 1152, 1, 'a'),
        ("resnet 3x3 256 14x14", 256, 196, 2304, 1, 'a'),
        ("resnet 3x3 512 7x7", 512, 49, 4608, 1, 'a'),
        ("resnet 1x1 2048->512 7x7", 512, 49, 2048, 1, 'a'),
        ("resnet 1x1 512->2048 7x7", 2048, 49, 512, 1, 'a'),
        ("bert qkv 128x768x768", 128, 768, 768, 1, 'b'),
        ("bert ffn1 128x3072x768", 128, 3072, 768, 1, 'b'),
        ("bert ffn2 128x768x3072", 128, 768, 3072, 1, 'b'),
        ("bert QK^T 12x(128x128x64)", 128, 128, 64, 12, '-'),
        ("bert PV 12x(128x64x128)", 128, 64, 128, 12, '-'),
        ("bert-mini qkv 32x256x256", 32, 256, 256, 1, 'b'),
        ("bert-mini ffn1 32x1024x256", 32, 1024, 256, 1, 'b'),
        ("bert-mini ffn2 32x256x1024", 32, 256, 1024, 1, 'b'),
    ];
    println!(
        "threads {threads} ({} time); GFLOP/s (best of 7); kernels: {:?}",
        if threads == 1 { "thread CPU" } else { "wall" },
        kernels::available().iter().map(|k| k.name).collect::<Vec<_>>()
    );
    for &(name, m, n, k, batch, weight) in shapes.iter().filter(|s| s.0.contains(filter.as_str())) {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 * 0.1 - 0.6).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 * 0.1 - 0.5).collect();
        let mut c = vec![0f32; m * n];
        let flops = 2.0 * (m * n * k * batch) as f64;
        let sa = Strided::new(&a, k, m, 1, k).unwrap();
        let sb = Strided::new(&b, k, n, n, 1).unwrap();
        let mut line = format!("{name:<26} m{m:<5} n{n:<6} k{k:<5}");
        let cpu = threads == 1;
        zenrt_core::threads::run_in(pool.as_deref(), || {
            for kern in kernels::available().into_iter().filter(|k| k.nr > 8) {
                let pa = PackedMat::new(&sa, kern, true).unwrap();
                let pb = PackedMat::new(&sb, kern, false).unwrap();
                let (oa, ob) = match weight {
                    'a' => (Operand::Packed(&pa), Operand::Src(&sb)),
                    'b' => (Operand::Src(&sa), Operand::Packed(&pb)),
                    _ => (Operand::Src(&sa), Operand::Src(&sb)),
                };
                let mut run = |oa, ob| {
                    for _ in 0..batch {
                        sgemm(kern, 1.0, oa, ob, 0.0, &mut c, n, 1, &Epilogue::default()).unwrap();
                    }
                };
                let g = time(|| run(Operand::Src(&sa), Operand::Src(&sb)), flops, cpu);
                let gp = time(|| run(oa, ob), flops, cpu);
                line += &format!("  {}: {g:6.1} (as in model {gp:6.1})", kern.name);
            }
        });
        let mm = time(
            || {
                for _ in 0..batch {
                    // SAFETY: a is m×k, b k×n, c m×n, all row-major and in bounds.
                    unsafe {
                        matrixmultiply::sgemm(
                            m,
                            k,
                            n,
                            1.0,
                            a.as_ptr(),
                            k as isize,
                            1,
                            b.as_ptr(),
                            n as isize,
                            1,
                            0.0,
                            c.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    }
                }
            },
            flops,
            true,
        );
        line += &format!("  matrixmultiply(1t): {mm:6.1}");
        println!("{line}");
    }
}
