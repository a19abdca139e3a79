//! The GEMMs of real models as the conv/linear ops call them: weights pre-packed as A, activations
//! as an unpacked B, per-row bias and the fused activation (1×1 convs), or a pre-packed B with a
//! per-column bias (BERT's linear layers). Prints ms (median and best of the timed runs) and
//! GFLOP/s of the best run, one line per shape.
//! `cargo run --release -p zenrt-core --example conv1x1_bench [THREADS] [FILTER]`

use std::time::Instant;
use zenrt_core::ops::fused::Activation;
use zenrt_core::ops::gemm::{kernels, sgemm, Bias, Epilogue, Operand, PackedMat, Strided};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let filter = args.get(2).cloned().unwrap_or_default();
    let pool = zenrt_core::threads::pool(threads);
    let relu6 = Activation::Clip(0.0, 6.0);
    let (none, silu, relu, gelu) = (Activation::None, Activation::Silu, Activation::Relu, Activation::Gelu);
    // (name, m, k, n, activation, weights on the right = linear layer)
    let shapes: &[(&str, usize, usize, usize, Activation, bool)] = &[
        ("mnv2 f1 project 32->16 112^2", 16, 32, 12544, none, false),
        ("mnv2 f2 expand 16->96 112^2", 96, 16, 12544, relu6, false),
        ("mnv2 f2 project 96->24 56^2", 24, 96, 3136, none, false),
        ("mnv2 f3 expand 24->144 56^2", 144, 24, 3136, relu6, false),
        ("mnv2 f4 project 144->32 28^2", 32, 144, 784, none, false),
        ("mnv2 expand 32->192 28^2", 192, 32, 784, relu6, false),
        ("mnv2 expand 64->384 14^2", 384, 64, 196, relu6, false),
        ("mnv2 project 384->64 14^2", 64, 384, 196, none, false),
        ("mnv2 project 960->320 7^2", 320, 960, 49, none, false),
        ("mnv2 head 320->1280 7^2", 1280, 320, 49, relu6, false),
        ("effb0 expand 16->96 112^2", 96, 16, 12544, silu, false),
        ("effb0 expand 24->144 56^2", 144, 24, 3136, silu, false),
        ("effb0 expand 40->240 28^2", 240, 40, 784, silu, false),
        ("effb0 project 144->40 28^2", 40, 144, 784, none, false),
        ("effb0 project 240->80 14^2", 80, 240, 196, none, false),
        ("effb0 project 1152->320 7^2", 320, 1152, 49, none, false),
        ("effb0 head 320->1280 7^2", 1280, 320, 49, silu, false),
        ("resnet 1x1 64->256 56^2", 256, 64, 3136, relu, false),
        ("resnet 1x1 256->64 56^2", 64, 256, 3136, relu, false),
        ("resnet 1x1 1024->256 14^2", 256, 1024, 196, relu, false),
        ("resnet 1x1 2048->512 7^2", 512, 2048, 49, relu, false),
        ("resnet im2col 3x3 64 56^2", 64, 576, 3136, relu, false),
        ("bert b1 qkv 128x256x256", 128, 256, 256, none, true),
        ("bert b1 ffn1 128x256x1024", 128, 256, 1024, gelu, true),
        ("bert b1 ffn2 128x1024x256", 128, 1024, 256, none, true),
        ("bert b8 ffn1 1024x256x1024", 1024, 256, 1024, gelu, true),
        ("bert b8 ffn2 1024x1024x256", 1024, 1024, 256, none, true),
    ];
    let kern = kernels::best();
    println!("threads {threads}; kernel {}", kern.name);
    for &(name, m, k, n, act, linear) in shapes.iter().filter(|s| s.0.contains(filter.as_str())) {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 * 0.05 - 0.3).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 * 0.1 - 0.5).collect();
        let bias: Vec<f32> = (0..m.max(n)).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
        let mut c = vec![0f32; m * n];
        let sa = Strided::new(&a, k, m, 1, k).unwrap();
        let sb = Strided::new(&b, k, n, n, 1).unwrap();
        let (pa, pb) = (PackedMat::new(&sa, kern, true).unwrap(), PackedMat::new(&sb, kern, false).unwrap());
        let (oa, ob, ep) = if linear {
            (Operand::Src(&sa), Operand::Packed(&pb), Epilogue { bias: Bias::PerCol(&bias[..n]), act, residual: None })
        } else {
            (Operand::Packed(&pa), Operand::Src(&sb), Epilogue { bias: Bias::PerRow(&bias[..m]), act, residual: None })
        };
        let flops = 2.0 * (m * n * k) as f64;
        let reps = ((3e8 / flops) as usize).clamp(2, 400);
        let mut times = vec![];
        zenrt_core::threads::run_in(pool.as_deref(), || {
            for round in 0..8 {
                let t = Instant::now();
                for _ in 0..reps {
                    sgemm(kern, 1.0, oa, ob, 0.0, &mut c, n, 1, &ep).unwrap();
                }
                if round > 0 {
                    times.push(t.elapsed().as_secs_f64() / reps as f64);
                }
            }
        });
        times.sort_by(f64::total_cmp);
        let (best, med) = (times[0], times[times.len() / 2]);
        println!(
            "{name:<30} m{m:<5} k{k:<5} n{n:<6} {:<10} med {:8.4} ms  best {:8.4} ms  {:6.1} GFLOP/s",
            format!("{act:?}"),
            med * 1e3,
            best * 1e3,
            flops / best / 1e9
        );
    }
}
