//! Property tests of the f32 GEMM against a float64 naive product.

use super::*;
use crate::ops::nn::conv::tests::Lcg;

struct Case {
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
    pad: usize,
    alpha: f32,
    beta: f32,
    bias: u8,
    act: Activation,
    pack_a: bool,
    pack_b: bool,
    /// B given as [`Rows`] (read where it lies by kernels with a direct form), rows `n + 5` apart.
    rows_b: bool,
    /// A residual in the epilogue (beta is then 0).
    residual: bool,
}

fn check(kern: &'static Kernel, cs: &Case, rng: &mut Lcg) {
    let (m, n, k) = (cs.m, cs.n, cs.k);
    let rand = |rng: &mut Lcg, len: usize| -> Vec<f32> { (0..len).map(|_| rng.float() as f32).collect() };
    let a = rand(rng, m * k);
    let b = rand(rng, k * n);
    let bias = rand(rng, m.max(n));
    let rsc = n + cs.pad;
    let c0 = rand(rng, m * rsc);
    // A stored row-major m×k, or as its transpose (k×m).
    let (ars, acs) = if cs.trans_a { (1, m) } else { (k, 1) };
    let (brs, bcs) = if cs.trans_b { (1, k) } else { (n, 1) };
    let at = |i: usize, p: usize| a[i * ars + p * acs] as f64;
    let bt = |p: usize, j: usize| b[p * brs + j * bcs] as f64;
    let sa = Strided::new(&a, k, m, acs, ars).unwrap();
    let sb = Strided::new(&b, k, n, brs, bcs).unwrap();
    let pa = PackedMat::new(&sa, kern, true).unwrap();
    let pb = PackedMat::new(&sb, kern, false).unwrap();
    let oa = if cs.pack_a { Operand::Packed(&pa) } else { Operand::Src(&sa) };
    // The rows form: NaN between the rows (read nowhere), the last row ending the buffer.
    let ld = n + 5;
    let mut bl = vec![f32::NAN; if k == 0 { 0 } else { (k - 1) * ld + n }];
    for p in 0..k {
        for j in 0..n {
            bl[p * ld + j] = bt(p, j) as f32;
        }
    }
    let rows = Rows::new(&bl, k, n, ld).unwrap();
    let ob = match (cs.rows_b, cs.pack_b) {
        (true, _) => Operand::Rows(rows),
        (false, true) => Operand::Packed(&pb),
        (false, false) => Operand::Src(&sb),
    };
    let beta = if cs.residual { 0.0 } else { cs.beta };
    let z = rand(rng, m * rsc);
    let residual = cs.residual.then_some(&z[..]);
    let bias_arg = match cs.bias {
        1 => Bias::PerRow(&bias[..m]),
        2 => Bias::PerCol(&bias[..n]),
        _ => Bias::None,
    };
    let mut c = c0.clone();
    sgemm(kern, cs.alpha, oa, ob, beta, &mut c, rsc, 1, &Epilogue { bias: bias_arg, act: cs.act, residual }).unwrap();
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut scale) = (0f64, 1f64);
            for p in 0..k {
                s += at(i, p) * bt(p, j);
                scale += (at(i, p) * bt(p, j)).abs();
            }
            let mut want = cs.alpha as f64 * s + beta as f64 * c0[i * rsc + j] as f64;
            if cs.residual {
                want += z[i * rsc + j] as f64;
            }
            want += match cs.bias {
                1 => bias[i] as f64,
                2 => bias[j] as f64,
                _ => 0.0,
            };
            let want = cs.act.eval(want);
            let got = c[i * rsc + j] as f64;
            assert!(
                (got - want).abs() <= 1e-5 * scale,
                "{} m{m} n{n} k{k} ta{} tb{} pa{} pb{} rows{} res{} at ({i},{j}): {got} vs {want}",
                kern.name,
                cs.trans_a,
                cs.trans_b,
                cs.pack_a,
                cs.pack_b,
                cs.rows_b,
                cs.residual
            );
        }
        // Padding columns are untouched.
        for j in n..rsc {
            assert_eq!(c[i * rsc + j], c0[i * rsc + j]);
        }
    }
}

fn random_cases(kern: &'static Kernel, count: usize, seed: u64) {
    let mut rng = Lcg(seed);
    let acts = [Activation::None, Activation::Relu, Activation::Clip(-0.3, 0.4), Activation::Sigmoid];
    for it in 0..count {
        let big = it % 5 == 0;
        let dim = |rng: &mut Lcg| if big { 1 + rng.below(300) } else { 1 + rng.below(67) };
        let cs = Case {
            m: dim(&mut rng),
            n: dim(&mut rng),
            k: if it % 11 == 0 { 0 } else { dim(&mut rng) },
            trans_a: rng.below(2) == 1,
            trans_b: rng.below(2) == 1,
            pad: rng.below(3),
            alpha: [1.0, 0.5, -2.0][rng.below(3)],
            beta: [0.0, 1.0, 0.25][rng.below(3)],
            bias: rng.below(3) as u8,
            act: acts[rng.below(4)],
            pack_a: rng.below(2) == 1,
            pack_b: rng.below(2) == 1,
            rows_b: rng.below(3) == 0,
            residual: rng.below(3) == 0,
        };
        check(kern, &cs, &mut rng);
    }
}

#[test]
fn every_kernel_matches_f64_reference() {
    for kern in kernels::available() {
        random_cases(kern, 60, 7);
    }
}

#[test]
fn parallel_matches_f64_reference() {
    let pool = crate::threads::pool(2).unwrap();
    for kern in kernels::available() {
        crate::threads::run_in(Some(&pool), || random_cases(kern, 40, 11));
    }
}

#[test]
fn k_spanning_several_blocks() {
    let mut rng = Lcg(3);
    for kern in kernels::available() {
        for (pack_a, pack_b) in [(false, false), (true, true)] {
            let cs = Case {
                m: 29,
                n: 70,
                k: 2 * blocking::for_kernel(kern.mr, kern.nr).kc + 17,
                trans_a: false,
                trans_b: true,
                pad: 1,
                alpha: 1.5,
                beta: 0.5,
                bias: 2,
                act: Activation::Relu,
                pack_a,
                pack_b,
                rows_b: false,
                residual: false,
            };
            check(kern, &cs, &mut rng);
        }
    }
}

/// The 1×1-conv shape: few input channels (one short K block), a row count off the tile, N wider
/// than one column block (so several B blocks, each swept per A micro-panel), per-row bias and
/// the fused activations, packed weights; alpha and beta off their defaults on some.
#[test]
fn small_k_wide_n_with_epilogues() {
    let mut rng = Lcg(5);
    for kern in kernels::available() {
        let nc = blocking::for_kernel(kern.mr, kern.nr).nc;
        let acts = [Activation::Clip(0.0, 6.0), Activation::Silu, Activation::None, Activation::Relu];
        for (i, &(m, k)) in [(13, 16), (kern.mr * 2 + 1, 3), (25, 40)].iter().enumerate() {
            let cs = Case {
                m,
                n: nc + 37,
                k,
                trans_a: i == 1,
                trans_b: false,
                pad: i,
                alpha: if i == 2 { 0.5 } else { 1.0 },
                beta: if i == 2 { 1.0 } else { 0.0 },
                bias: 1,
                act: acts[i % acts.len()],
                pack_a: i != 1,
                pack_b: false,
                rows_b: false,
                residual: false,
            };
            check(kern, &cs, &mut rng);
        }
    }
}

/// SiLU / Sigmoid epilogues on outputs reaching ±100 (exp far in both tails) and NaN/inf inputs,
/// against float64, on every kernel and with two threads.
#[test]
fn transcendental_epilogue_over_wide_range() {
    let (m, n, k) = (14, 70, 5);
    let pool = crate::threads::pool(2);
    for kern in kernels::available() {
        for act in [Activation::Silu, Activation::Sigmoid] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let mut b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 13) as f32 * 0.6 - 3.6).collect();
            b[3] = f32::NAN;
            b[n + 9] = f32::INFINITY;
            let sa = Strided::new(&a, k, m, 1, k).unwrap();
            let sb = Strided::new(&b, k, n, n, 1).unwrap();
            let pa = PackedMat::new(&sa, kern, true).unwrap();
            let mut c = vec![0f32; m * n];
            let ep = Epilogue { bias: Bias::None, act, residual: None };
            crate::threads::run_in(pool.as_deref(), || {
                sgemm(kern, 1.0, Operand::Packed(&pa), Operand::Src(&sb), 0.0, &mut c, n, 1, &ep).unwrap()
            });
            for i in 0..m {
                for j in 0..n {
                    let terms = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64);
                    let s: f64 = terms.clone().sum();
                    let scale = 1.0 + terms.map(f64::abs).sum::<f64>();
                    let (want, got) = (act.eval(s), c[i * n + j] as f64);
                    // f32 accumulation error (the activations' slopes are at most 1.1), NaN for NaN.
                    let ok = match want {
                        w if w.is_nan() => got.is_nan(),
                        w if w.is_infinite() => got == w,
                        w => (got - w).abs() <= 2e-6 * scale,
                    };
                    assert!(ok, "{} {act:?}({s}) at ({i},{j}): {got} vs {want}", kern.name);
                }
            }
        }
    }
}

#[test]
fn strided_output_and_f64_entry() {
    // Column-major C (csc != 1) through the checked entry point, f32 and f64.
    let (m, k, n) = (5, 7, 3);
    let a: Vec<f32> = (0..m * k).map(|x| (x % 7) as f32 - 3.0).collect();
    let b: Vec<f32> = (0..k * n).map(|x| (x % 5) as f32 - 2.0).collect();
    let mut c = vec![1f32; m * n];
    gemm(m, k, n, (&a, k, 1), (&b, n, 1), 1.0, &mut c, 1, m).unwrap();
    let a64: Vec<f64> = a.iter().map(|&x| x as f64).collect();
    let b64: Vec<f64> = b.iter().map(|&x| x as f64).collect();
    let mut c64 = vec![0f64; m * n];
    gemm(m, k, n, (&a64, k, 1), (&b64, n, 1), 0.0, &mut c64, n, 1).unwrap();
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k).map(|p| a64[i * k + p] * b64[p * n + j]).sum();
            assert_eq!(c64[i * n + j], want);
            assert_eq!(c[i + j * m] as f64, want + 1.0);
        }
    }
    // Out-of-bounds views are errors.
    assert!(gemm(m, k, n, (&a[..5], k, 1), (&b, n, 1), 0.0, &mut c, n, 1).is_err());
    assert!(gemm(m, k, n, (&a, k, 1), (&b, n, 1), 0.0, &mut c[..4], n, 1).is_err());
}

/// The same matrix packed from its k-major and its t-major storage (the two packing paths, the
/// latter the panel gather used for weights) gives the same panels, serially and split over a
/// pool (large blocks), for every kernel's panel widths and ragged edges.
#[test]
fn packing_is_the_same_from_either_storage() {
    let pool = crate::threads::pool(2);
    let mut rng = Lcg(5);
    for kern in kernels::available() {
        for &(k, other) in &[(7usize, 5usize), (300, 37), (1100, 203), (64, 1030), (17, 24), (48, 16), (33, 3)] {
            let x: Vec<f32> = (0..k * other).map(|_| rng.float() as f32).collect();
            let mut xt = vec![0f32; k * other];
            for p in 0..k {
                for t in 0..other {
                    xt[t * k + p] = x[p * other + t];
                }
            }
            let kmajor = Strided::new(&x, k, other, other, 1).unwrap();
            let tmajor = Strided::new(&xt, k, other, 1, k).unwrap();
            for lhs in [true, false] {
                let want = PackedMat::new(&kmajor, kern, lhs).unwrap();
                let serial = PackedMat::new(&tmajor, kern, lhs).unwrap();
                let split = crate::threads::run_in(pool.as_deref(), || PackedMat::new(&tmajor, kern, lhs).unwrap());
                assert_eq!(serial.panels(), want.panels(), "{} k={k} other={other} lhs={lhs}", kern.name);
                assert_eq!(split.panels(), want.panels(), "{} k={k} other={other} lhs={lhs} (pool)", kern.name);
            }
        }
    }
}
/// A `Ctx` for the split tests (nothing is computed through it).
fn ctx<'a>(kern: &'static Kernel, m: usize, n: usize, k: usize, a: Operand<'a>, b: Operand<'a>) -> Ctx<'a> {
    let ep = BlockEp {
        alpha: 1.0,
        beta: 0.0,
        row_bias: None,
        col_bias: None,
        clamp: None,
        post: Activation::None,
        res: None,
        rsc: n,
    };
    let blk = blocking::for_kernel(kern.mr, kern.nr);
    let c = OutPtr(std::ptr::null_mut());
    Ctx { kern, m, n, k, a, b, c, rsc: n, ep, post: None, blk, kc: blk.kc, l2: blocking::caches().l2 }
}

/// Every grid `partition` picks covers the output exactly once in tile-aligned ranges, and the
/// products whose M must be split (both operands unpacked, or N a few panels wide) share B.
#[test]
fn partition_tiles_the_output_and_shares_b() {
    SHARED_B_SPLIT.set(true);
    let kern = kernels::best();
    let (a, b) = (vec![0f32; 1], vec![0f32; 1]);
    let (sa, sb) = (Strided::new(&a, 1, 1, 0, 0).unwrap(), Strided::new(&b, 1, 1, 0, 0).unwrap());
    for threads in 1..=4 {
        // (m, n, k, A packed, B packed, B shared expected at 2+ threads)
        for &(m, n, k, pa, pb, share) in &[
            (1024, 1024, 1024, false, false, Some(true)),
            (512, 49, 4608, true, false, None),
            (1024, 196, 256, true, false, None),
            (256, 1024, 256, false, true, Some(false)),
            (64, 3136, 256, true, false, None),
            (300, 17, 300, false, false, None),
        ] {
            // The split only looks at whether an operand is packed, not at its data.
            let dummy = PackedMat::new(&sa, kern, true).unwrap();
            let dummy_b = PackedMat::new(&sb, kern, false).unwrap();
            let oa = if pa { Operand::Packed(&dummy) } else { Operand::Src(&sa) };
            let ob = if pb { Operand::Packed(&dummy_b) } else { Operand::Src(&sb) };
            let cx = ctx(kern, m, n, k, oa, ob);
            let g = partition(&cx, threads);
            // The default split of sessions 5-6 must tile the output too.
            for g in [&g, &partition_fewest_packings(&cx, threads)] {
                let mut cover = vec![0u8; m * n];
                for &(m0, m1) in &g.ms {
                    assert!(m0.is_multiple_of(kern.mr) && m1 <= m);
                    for &(n0, n1) in &g.ns {
                        assert!(n0.is_multiple_of(kern.nr) && n1 <= n);
                        (m0..m1).for_each(|i| (n0..n1).for_each(|j| cover[i * n + j] += 1));
                    }
                }
                assert!(cover.iter().all(|&x| x == 1), "{m}x{n}x{k} at {threads} threads");
                assert!(g.ms.len() * g.ns.len() <= 4 * threads);
            }
            if let (true, Some(s)) = (threads > 1, share) {
                assert_eq!(g.share_b, s, "{m}x{n}x{k} at {threads} threads");
            }
            assert!(!g.share_b || !pb);
        }
    }
}

/// Products that take the shared-B split at two threads (both operands unpacked; a narrow N with
/// packed A), K over several blocks, epilogues, against float64; run twice in a row on
/// different shapes so the kept buffer is reused, shrunk and grown.
#[test]
fn shared_b_split_matches_f64_reference() {
    // Both session-7 options on (other tests may then run on them too: every path must be exact).
    SHARED_B_SPLIT.set(true);
    L2_B_BLOCK.set(true);
    let pool = crate::threads::pool(2).unwrap();
    let mut rng = Lcg(13);
    for kern in kernels::available() {
        let kc = blocking::for_kernel(kern.mr, kern.nr).kc;
        for &(m, n, k, pack_a) in &[(200, 150, 2 * kc + 5, false), (300, 49, kc + 3, true), (97, 260, 70, false)] {
            let cs = Case {
                m,
                n,
                k,
                trans_a: m == 97,
                trans_b: n == 49,
                pad: 1,
                alpha: 1.0,
                beta: if pack_a { 0.5 } else { 0.0 },
                bias: if pack_a { 1 } else { 2 },
                act: Activation::Relu,
                pack_a,
                pack_b: false,
                rows_b: false,
                residual: false,
            };
            crate::threads::run_in(Some(&pool), || check(kern, &cs, &mut rng));
        }
    }
}

/// Packing over a pool gives the same panels as packing serially.
#[test]
fn parallel_packing_is_serial_packing() {
    let pool = crate::threads::pool(2).unwrap();
    let kern = kernels::best();
    let (k, n) = (2 * blocking::for_kernel(kern.mr, kern.nr).kc + 9, 133);
    let b: Vec<f32> = (0..k * n).map(|i| (i % 97) as f32).collect();
    let sb = Strided::new(&b, k, n, n, 1).unwrap();
    let serial = PackedMat::new(&sb, kern, false).unwrap();
    let par = crate::threads::run_in(Some(&pool), || PackedMat::new(&sb, kern, false).unwrap());
    assert_eq!(serial.into_buffer(), par.into_buffer());
}

/// Every edge-tile shape (rows 1..=2·mr+1, columns around the half and full panel widths), K in one
/// and over two blocks, on every kernel (the AVX2 kernel multiplies only an edge tile's rows and
/// vectors), with beta, both bias kinds and a clamp, against float64.
#[test]
fn edge_tiles_match_f64_reference() {
    let mut rng = Lcg(29);
    for kern in kernels::available() {
        let kc = blocking::for_kernel(kern.mr, kern.nr).kc;
        for m in 1..=2 * kern.mr + 1 {
            for n in [1, 7, 8, 9, 15, 16, 17, 24, 25, 33, 49] {
                for (i, k) in [3, kc + 5].into_iter().enumerate() {
                    let cs = Case {
                        m,
                        n,
                        k,
                        trans_a: false,
                        trans_b: n % 2 == 0,
                        pad: i,
                        alpha: 1.0,
                        beta: [0.0, 0.5][(m + i) % 2],
                        bias: ((m + n) % 3) as u8,
                        act: [Activation::None, Activation::Relu][n % 2],
                        pack_a: m % 2 == 0,
                        pack_b: (m + i) % 3 == 0,
                        rows_b: false,
                        residual: false,
                    };
                    check(kern, &cs, &mut rng);
                }
            }
        }
    }
}

/// A C larger than any L2 (4.4 MB) runs in row order ([`ROW_ORDER`]); the same products with it
/// off, B packed, unpacked and read where it lies, with a residual, K over two blocks.
#[test]
fn large_output_in_row_order() {
    let mut rng = Lcg(19);
    let kern = kernels::best();
    let kc = blocking::for_kernel(kern.mr, kern.nr).kc;
    for row in [true, false] {
        ROW_ORDER.set(row);
        for (pack_b, rows_b, k) in [(false, false, 70), (true, false, kc + 9), (false, true, kc + 9)] {
            let cs = Case {
                m: 1100,
                n: 1003,
                k,
                trans_a: false,
                trans_b: false,
                pad: 2,
                alpha: 1.0,
                beta: 0.0,
                bias: 1,
                act: Activation::Relu,
                pack_a: true,
                pack_b,
                rows_b,
                residual: true,
            };
            check(kern, &cs, &mut rng);
        }
    }
    ROW_ORDER.set(false);
}
