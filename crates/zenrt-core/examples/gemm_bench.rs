//! GEMM throughput: our f32 GEMM (each kernel) vs `matrixmultiply`, single- and multi-threaded.
//! `cargo run --release -p zenrt-core --example gemm_bench [THREADS]`

use std::time::Instant;
use zenrt_core::ops::gemm::{kernels, sgemm, Epilogue, Operand, PackedMat, Strided};

fn time<F: FnMut()>(mut f: F, flops: f64) -> f64 {
    f();
    let mut best = f64::INFINITY;
    let reps = ((2e9 / flops) as usize).clamp(3, 200);
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    flops / best / 1e9
}

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let pool = zenrt_core::threads::pool(threads);
    let shapes: &[(&str, usize, usize, usize)] = &[
        ("square 512", 512, 512, 512),
        ("square 1024", 1024, 1024, 1024),
        ("square 2048", 2048, 2048, 2048),
        ("resnet conv1 im2col", 64, 12544, 147),
        ("resnet 1x1 64->256 56x56", 256, 3136, 64),
        ("resnet 3x3 64 56x56", 64, 3136, 576),
        ("resnet 3x3 256 14x14", 256, 196, 2304),
        ("resnet 3x3 512 7x7", 512, 49, 4608),
        ("resnet 1x1 2048->512 7x7", 512, 49, 2048),
        ("bert 128x768x768", 128, 768, 768),
        ("bert 128x3072x768", 128, 3072, 768),
        ("bert 128x768x3072", 128, 768, 3072),
        ("bert 128x256x256", 128, 256, 256),
        ("bert 128x1024x256", 128, 1024, 256),
        ("gemv fc 1x1000x2048", 1, 1000, 2048),
    ];
    println!(
        "threads {threads}; GFLOP/s (best of 5); kernels: {:?}",
        kernels::available().iter().map(|k| k.name).collect::<Vec<_>>()
    );
    for &(name, m, n, k) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 * 0.1 - 0.6).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 * 0.1 - 0.5).collect();
        let mut c = vec![0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let sa = Strided::new(&a, k, m, 1, k).unwrap();
        let sb = Strided::new(&b, k, n, n, 1).unwrap();
        let mut line = format!("{name:<28} m{m:<5} n{n:<6} k{k:<5}");
        zenrt_core::threads::run_in(pool.as_deref(), || {
            for kern in kernels::available().into_iter().filter(|k| k.mr > 4 || flops < 2e9) {
                let g = time(
                    || {
                        sgemm(kern, 1.0, Operand::Src(&sa), Operand::Src(&sb), 0.0, &mut c, n, 1, &Epilogue::default())
                            .unwrap()
                    },
                    flops,
                );
                let pa = PackedMat::new(&sa, kern, true).unwrap();
                let pb = PackedMat::new(&sb, kern, false).unwrap();
                let gp = if m >= n {
                    time(
                        || {
                            sgemm(
                                kern,
                                1.0,
                                Operand::Src(&sa),
                                Operand::Packed(&pb),
                                0.0,
                                &mut c,
                                n,
                                1,
                                &Epilogue::default(),
                            )
                            .unwrap()
                        },
                        flops,
                    )
                } else {
                    time(
                        || {
                            sgemm(
                                kern,
                                1.0,
                                Operand::Packed(&pa),
                                Operand::Src(&sb),
                                0.0,
                                &mut c,
                                n,
                                1,
                                &Epilogue::default(),
                            )
                            .unwrap()
                        },
                        flops,
                    )
                };
                line += &format!("  {}: {g:6.1} (prepacked {gp:6.1})", kern.name);
            }
        });
        let mm = time(
            || unsafe {
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
            },
            flops,
        );
        line += &format!("  matrixmultiply(1t): {mm:6.1}");
        println!("{line}");
    }
}
