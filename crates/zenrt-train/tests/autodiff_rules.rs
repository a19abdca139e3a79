//! Every gradient rule against float64 central finite differences, over random shapes
//! (seeded loops: each test draws several shape/attribute combinations).

mod common;
use common::*;
use zenrt_core::Attr;

const TRIALS: u64 = 4;

fn dims(rng: &mut Rng, n: usize) -> Vec<usize> {
    (0..n).map(|_| rng.int(1, 4)).collect()
}

/// A random shape that broadcasts to `full` (some axes 1, maybe fewer leading axes).
fn broadcastable(rng: &mut Rng, full: &[usize]) -> Vec<usize> {
    let drop = rng.int(0, full.len());
    full[drop..].iter().map(|&d| if rng.next().is_multiple_of(2) { 1 } else { d }).collect()
}

fn binary(op: &'static str, positive_rhs: bool) {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed);
        let r = rng.int(1, 3);
        let full = dims(&mut rng, r);
        let other = broadcastable(&mut rng, &full);
        let (sa, sb) = if seed % 2 == 0 { (full.clone(), other) } else { (other, full.clone()) };
        let a = rng.tensor(&sa, -1.0, 1.0);
        let b = if positive_rhs { rng.tensor(&sb, 0.5, 1.5) } else { rng.tensor(&sb, -1.0, 1.0) };
        check(vec![diff("a", a), diff("b", b)], seed, &|bd| bd.node(op, &["a", "b"], vec![]));
    }
}

#[test]
fn add_sub_mul_div_with_broadcasting() {
    binary("Add", false);
    binary("Sub", false);
    binary("Mul", false);
    binary("Div", true);
}

#[test]
fn sum_variadic() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed);
        let full = dims(&mut rng, 3);
        let s2 = broadcastable(&mut rng, &full);
        let ins = vec![diff("a", rng.tensor(&full, -1.0, 1.0)), diff("b", rng.tensor(&s2, -1.0, 1.0))];
        check(ins, seed, &|b| b.node("Sum", &["a", "b", "a"], vec![]));
    }
}

fn unary(op: &'static str, attrs: Vec<(&'static str, Attr)>, positive: bool) {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 100);
        let r = rng.int(1, 3);
        let s = dims(&mut rng, r);
        let x = if positive { rng.tensor(&s, 0.3, 2.0) } else { rng.away_from_zero(&s) };
        let attrs = attrs.clone();
        check(vec![diff("x", x)], seed, &move |b| b.node(op, &["x"], attrs.clone()));
    }
}

#[test]
fn unary_math_and_activations() {
    for op in ["Neg", "Abs", "Relu", "Sigmoid", "Tanh", "Exp", "Erf", "Softplus", "Identity"] {
        unary(op, vec![], false);
    }
    unary("LeakyRelu", vec![("alpha", Attr::Float(0.2))], false);
    unary("LeakyRelu", vec![], false);
    for op in ["Log", "Sqrt", "Reciprocal"] {
        unary(op, vec![], true);
    }
    for op in ["Gelu", "Elu", "Selu", "Softsign", "Swish"] {
        unary(op, vec![], false);
    }
    unary("Gelu", vec![("approximate", Attr::String(b"tanh".to_vec()))], false);
    unary("Elu", vec![("alpha", Attr::Float(0.7))], false);
    unary("Swish", vec![("alpha", Attr::Float(1.7))], false);
    unary("HardSigmoid", vec![("alpha", Attr::Float(0.3))], false);
    // HardSwish over all three pieces (|x| up to 4.5, away from the ±3 kinks).
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 150);
        let v: Vec<f64> = (0..12).map(|i| [-4.5, -2.0, -0.5, 0.7, 2.5, 4.0][i % 6] + rng.uniform(-0.3, 0.3)).collect();
        let x = zenrt_core::Tensor::from_vec(vec![3, 4], v).unwrap();
        check(vec![diff("x", x)], seed, &|b| b.node("HardSwish", &["x"], vec![]));
    }
}

#[test]
fn prelu_mean_pad() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 1800);
        let s = vec![rng.int(1, 3), rng.int(1, 4), rng.int(1, 3)];
        let slope_shape = if seed % 2 == 0 { vec![s[1], 1] } else { vec![s[2]] };
        let ins = vec![diff("x", rng.away_from_zero(&s)), diff("a", rng.tensor(&slope_shape, 0.05, 0.5))];
        check(ins, seed, &|b| b.node("PRelu", &["x", "a"], vec![]));
        let sb = broadcastable(&mut rng, &s);
        let ins = vec![diff("x", rng.tensor(&s, -1.0, 1.0)), diff("y", rng.tensor(&sb, -1.0, 1.0))];
        check(ins, seed, &|b| b.node("Mean", &["x", "y", "x"], vec![]));
        let p: Vec<i64> = (0..6).map(|_| rng.int(0, 2) as i64).collect();
        check(vec![diff("x", rng.tensor(&s, -1.0, 1.0))], seed, &|b| {
            let pads = b.ints(&p)?;
            let v = b.scalar(0.25, F64)?;
            b.node("Pad", &["x", &pads, &v], vec![])
        });
    }
}

#[test]
fn max_min_two_inputs() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 1700);
        let r = rng.int(1, 3);
        let full = dims(&mut rng, r);
        let other = broadcastable(&mut rng, &full);
        for op in ["Max", "Min"] {
            let ins = vec![diff("a", rng.tensor(&full, -1.0, 1.0)), diff("b", rng.tensor(&other, -1.0, 1.0))];
            check(ins, seed, &|b| b.node(op, &["a", "b"], vec![]));
        }
    }
}

#[test]
fn pow_constant_and_tensor_exponent() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 200);
        let s = dims(&mut rng, 2);
        let x = rng.tensor(&s, 0.5, 2.0);
        let p = rng.tensor(&[s[1]], 0.5, 3.0);
        // Constant exponent (an initializer): only x is differentiated.
        let pc = p.clone();
        check(vec![diff("x", x.clone())], seed, &move |b| {
            let c = b.constant(pc.clone());
            b.node("Pow", &["x", &c], vec![])
        });
        check(vec![diff("x", x), diff("p", p)], seed, &|b| b.node("Pow", &["x", "p"], vec![]));
    }
}

#[test]
fn dropout_inference_and_cast() {
    let mut rng = Rng(7);
    let x = rng.tensor(&[3, 4], -1.0, 1.0);
    check(vec![diff("x", x.clone())], 1, &|b| b.node("Dropout", &["x"], vec![]));
    check(vec![diff("x", x)], 2, &|b| b.node("Cast", &["x"], vec![("to", Attr::Int(11))]));
    // f32 → f64: the gradient comes back as f32 (finite differences in f32 are too coarse,
    // so compare with the exact answer: d Σ cast(x) / dx = 1).
    let x32 = rng.tensor(&[2, 3], -1.0, 1.0).cast(zenrt_core::DType::F32).unwrap();
    let (mut g, y) = graph_of(&[diff("x", x32.clone())], &|b| {
        let c = b.node("Cast", &["x"], vec![("to", Attr::Int(11))])?;
        b.node("ReduceSum", &[&c], vec![("keepdims", Attr::Int(0))])
    })
    .unwrap();
    g.outputs = vec![zenrt_core::ValueInfo::new(y.clone(), None, None)];
    let bg = zenrt_train::autodiff::backward(&g, &y, &["x".to_string()]).unwrap();
    let plan = zenrt_core::Plan::compile(
        std::sync::Arc::new(bg),
        &zenrt_core::ReferenceBackend,
        &std::collections::HashSet::new(),
    )
    .unwrap();
    let outs = plan.run(vec![("x".into(), x32)]).unwrap();
    assert_eq!(outs[1].dtype(), zenrt_core::DType::F32);
    assert_eq!(outs[1].to_f64_vec(), vec![1.0; 6]);
}

#[test]
fn clip_with_and_without_bounds() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 300);
        let s = dims(&mut rng, 2);
        // Values away from the bounds ±0.5.
        let v: Vec<f64> = (0..s.iter().product::<usize>())
            .map(|_| {
                let m = rng.uniform(0.0, 1.2);
                let m = if (0.4..0.6).contains(&m) { m + 0.3 } else { m };
                if rng.next().is_multiple_of(2) {
                    m
                } else {
                    -m
                }
            })
            .collect();
        let x = zenrt_core::Tensor::from_vec(s.clone(), v).unwrap();
        check(vec![diff("x", x.clone())], seed, &|b| {
            let lo = b.scalar(-0.5, F64)?;
            let hi = b.scalar(0.5, F64)?;
            b.node("Clip", &["x", &lo, &hi], vec![])
        });
        check(vec![diff("x", x.clone())], seed, &|b| {
            let hi = b.scalar(0.5, F64)?;
            b.node("Clip", &["x", "", &hi], vec![])
        });
        check(vec![diff("x", x)], seed, &|b| b.node("Clip", &["x"], vec![]));
    }
}

#[test]
fn where_on_data_inputs() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 400);
        let s = dims(&mut rng, 3);
        let sb = broadcastable(&mut rng, &s);
        let c = rng.tensor(&s, -1.0, 1.0);
        let ins = vec![fixed("c", c), diff("a", rng.tensor(&s, -1.0, 1.0)), diff("b", rng.tensor(&sb, -1.0, 1.0))];
        check(ins, seed, &|b| {
            let z = b.scalar(0.0, F64)?;
            let cond = b.node("Greater", &["c", &z], vec![])?;
            b.node("Where", &[&cond, "a", "b"], vec![])
        });
    }
}

#[test]
fn matmul_plain_batched_broadcast() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 500);
        let (m, k, n) = (rng.int(1, 4), rng.int(1, 4), rng.int(1, 4));
        let bt = rng.int(1, 3);
        let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![m, k], vec![k, n]),
            (vec![bt, m, k], vec![k, n]),
            (vec![bt, m, k], vec![bt, k, n]),
            (vec![2, 1, m, k], vec![bt, k, n]),
        ];
        for (sa, sb) in cases {
            let ins = vec![diff("a", rng.tensor(&sa, -1.0, 1.0)), diff("b", rng.tensor(&sb, -1.0, 1.0))];
            check(ins, seed, &|b| b.node("MatMul", &["a", "b"], vec![]));
        }
    }
}

#[test]
fn gemm_all_transpose_flags_and_bias_shapes() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 600);
        let (m, k, n) = (rng.int(1, 4), rng.int(1, 4), rng.int(1, 4));
        for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let sa = if ta == 1 { vec![k, m] } else { vec![m, k] };
            let sb = if tb == 1 { vec![n, k] } else { vec![k, n] };
            let sc = match (seed + ta + tb) % 3 {
                0 => vec![n],
                1 => vec![m, n],
                _ => vec![1, n],
            };
            let ins = vec![
                diff("a", rng.tensor(&sa, -1.0, 1.0)),
                diff("b", rng.tensor(&sb, -1.0, 1.0)),
                diff("c", rng.tensor(&sc, -1.0, 1.0)),
            ];
            let attrs = vec![
                ("transA", Attr::Int(ta as i64)),
                ("transB", Attr::Int(tb as i64)),
                ("alpha", Attr::Float(0.7)),
                ("beta", Attr::Float(1.3)),
            ];
            check(ins, seed, &|b| b.node("Gemm", &["a", "b", "c"], attrs.clone()));
        }
    }
}

#[test]
fn softmax_and_log_softmax() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 700);
        let s = dims(&mut rng, 3);
        for axis in [-1i64, 1, 0] {
            for op in ["Softmax", "LogSoftmax"] {
                let x = rng.tensor(&s, -2.0, 2.0);
                check(vec![diff("x", x)], seed, &|b| b.node(op, &["x"], vec![("axis", Attr::Int(axis))]));
            }
        }
    }
}

#[test]
fn reshape_family_and_transpose() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 800);
        let s = dims(&mut rng, 3);
        let x = rng.tensor(&s, -1.0, 1.0);
        check(vec![diff("x", x.clone())], seed, &|b| {
            let sh = b.ints(&[-1])?;
            b.node("Reshape", &["x", &sh], vec![])
        });
        check(vec![diff("x", x.clone())], seed, &|b| b.node("Flatten", &["x"], vec![("axis", Attr::Int(2))]));
        check(vec![diff("x", x.clone())], seed, &|b| {
            let a = b.ints(&[0, -1])?;
            let u = b.node("Unsqueeze", &["x", &a], vec![])?;
            b.node("Squeeze", &[&u, &a], vec![])
        });
        check(vec![diff("x", x.clone())], seed, &|b| b.node("Transpose", &["x"], vec![("perm", ints(&[1, 2, 0]))]));
        check(vec![diff("x", x)], seed, &|b| b.node("Transpose", &["x"], vec![]));
    }
}

#[test]
fn concat_split_slice() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 900);
        let s = dims(&mut rng, 3);
        let axis = rng.int(0, 2);
        let mut s2 = s.clone();
        s2[axis] = rng.int(1, 3);
        let ins = vec![diff("a", rng.tensor(&s, -1.0, 1.0)), diff("b", rng.tensor(&s2, -1.0, 1.0))];
        check(ins, seed, &|b| b.node("Concat", &["a", "b", "a"], vec![("axis", Attr::Int(axis as i64 - 3))]));
        // Split into two parts, both used; then one part unused.
        let mut big = s.clone();
        big[axis] += 2;
        let x = rng.tensor(&big, -1.0, 1.0);
        let cut = s[axis] as i64;
        check(vec![diff("x", x.clone())], seed, &|b| {
            let sp = b.ints(&[cut, 2])?;
            let parts = b.node_n("", "Split", &["x", &sp], vec![("axis", Attr::Int(axis as i64))], 2)?;
            let e = b.node("Exp", &[&parts[1]], vec![])?;
            let sq = b.mul(&parts[0], &parts[0])?;
            let se = b.node("ReduceSum", &[&e], vec![])?;
            b.add(&sq, &se)
        });
        check(vec![diff("x", x.clone())], seed, &|b| {
            let sp = b.ints(&[cut, 2])?;
            let parts = b.node_n("", "Split", &["x", &sp], vec![("axis", Attr::Int(axis as i64))], 2)?;
            Ok(parts[1].clone())
        });
        // Slices: positive step, negative step, clamped ends.
        check(vec![diff("x", x.clone())], seed, &|b| {
            let st = b.ints(&[1, 0])?;
            let en = b.ints(&[i64::MAX, 3])?;
            let ax = b.ints(&[axis as i64, ((axis + 1) % 3) as i64])?;
            let sp = b.ints(&[1, 2])?;
            b.node("Slice", &["x", &st, &en, &ax, &sp], vec![])
        });
        check(vec![diff("x", x)], seed, &|b| {
            let st = b.ints(&[-1])?;
            let en = b.ints(&[i64::MIN])?;
            let ax = b.ints(&[axis as i64])?;
            let sp = b.ints(&[-2])?;
            b.node("Slice", &["x", &st, &en, &ax, &sp], vec![])
        });
    }
}

#[test]
fn gather_embedding_rows_and_axis1() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 1000);
        let (v, d) = (rng.int(2, 6), rng.int(1, 4));
        let table = rng.tensor(&[v, d], -1.0, 1.0);
        let nb = rng.int(1, 3);
        let nt = rng.int(1, 4);
        // Repeated and negative indices accumulate.
        let idx: Vec<i64> = (0..nb * nt).map(|i| if i == 1 { -1 } else { (rng.next() % v as u64) as i64 }).collect();
        let ins = vec![diff("w", table.clone()), fixed("i", i64s(&[nb, nt], idx.clone()))];
        check(ins, seed, &|b| b.node("Gather", &["w", "i"], vec![]));
        let idx1: Vec<i64> = (0..3).map(|_| (rng.next() % d as u64) as i64).collect();
        let ins = vec![diff("w", table), fixed("i", i64s(&[3], idx1))];
        check(ins, seed, &|b| b.node("Gather", &["w", "i"], vec![("axis", Attr::Int(1))]));
    }
}

#[test]
fn expand() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 1100);
        let full = dims(&mut rng, 3);
        let small = broadcastable(&mut rng, &full);
        let full_c: Vec<i64> = full.iter().map(|&d| d as i64).collect();
        check(vec![diff("x", rng.tensor(&small, -1.0, 1.0))], seed, &|b| {
            let s = b.ints(&full_c)?;
            b.node("Expand", &["x", &s], vec![])
        });
    }
}

#[test]
fn reductions() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 1200);
        let s = dims(&mut rng, 3);
        for op in ["ReduceSum", "ReduceMean"] {
            for keep in [0, 1] {
                for axes in [vec![1i64], vec![0, -1], vec![]] {
                    let x = rng.tensor(&s, -1.0, 1.0);
                    check(vec![diff("x", x)], seed, &|b| {
                        let attrs = vec![("keepdims", Attr::Int(keep))];
                        if axes.is_empty() {
                            b.node(op, &["x"], attrs)
                        } else {
                            let a = b.ints(&axes)?;
                            b.node(op, &["x", &a], attrs)
                        }
                    });
                }
            }
        }
        let x = rng.tensor(&[s[0], s[1], s[2], 2], -1.0, 1.0);
        check(vec![diff("x", x.clone())], seed, &|b| b.node("GlobalAveragePool", &["x"], vec![]));
        // Max/min: random continuous values have no ties.
        check(vec![diff("x", x)], seed, &|b| b.node("GlobalMaxPool", &["x"], vec![]));
        for op in ["ReduceMax", "ReduceMin"] {
            for keep in [0, 1] {
                let x = rng.tensor(&s, -1.0, 1.0);
                check(vec![diff("x", x)], seed, &|b| {
                    let a = b.ints(&[1])?;
                    b.node(op, &["x", &a], vec![("keepdims", Attr::Int(keep))])
                });
            }
        }
    }
}

#[test]
fn conv_strides_pads_dilations_groups_depthwise() {
    for seed in 0..TRIALS * 2 {
        let mut rng = Rng(seed + 1300);
        let group = [1, 1, 2, 3][(seed % 4) as usize];
        let depthwise = seed % 4 == 3;
        let cg = if depthwise { 1 } else { rng.int(1, 2) };
        let c = cg * group;
        let m = if depthwise { group } else { group * rng.int(1, 2) };
        let (kh, kw) = (rng.int(1, 3), rng.int(1, 3));
        let n = rng.int(1, 2);
        let (h, w) = (rng.int(kh + 1, 6), rng.int(kw + 1, 6));
        let s = rng.int(1, 2) as i64;
        let d = rng.int(1, 2) as i64;
        let p = rng.int(0, 1) as i64;
        let (h, w) = (h + (d as usize - 1) * (kh - 1), w + (d as usize - 1) * (kw - 1));
        let ins = vec![
            diff("x", rng.tensor(&[n, c, h, w], -1.0, 1.0)),
            diff("w", rng.tensor(&[m, cg, kh, kw], -1.0, 1.0)),
            diff("b", rng.tensor(&[m], -1.0, 1.0)),
        ];
        let attrs = vec![
            ("strides", ints(&[s, 1])),
            ("dilations", ints(&[d, 1])),
            ("pads", ints(&[p, 0, 0, p])),
            ("group", Attr::Int(group as i64)),
        ];
        check(ins, seed, &|b| b.node("Conv", &["x", "w", "b"], attrs.clone()));
    }
    // 1-D convolution, auto_pad SAME_UPPER, no bias.
    let mut rng = Rng(99);
    let ins = vec![diff("x", rng.tensor(&[2, 2, 7], -1.0, 1.0)), diff("w", rng.tensor(&[3, 2, 3], -1.0, 1.0))];
    check(ins, 1, &|b| {
        b.node("Conv", &["x", "w"], vec![("auto_pad", Attr::String(b"SAME_UPPER".to_vec())), ("strides", ints(&[2]))])
    });
}

#[test]
fn max_and_average_pool() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 1400);
        let (n, c, h, w) = (rng.int(1, 2), rng.int(1, 3), rng.int(3, 6), rng.int(3, 6));
        // Distinct values so each window has a unique maximum.
        let total = n * c * h * w;
        let mut vals: Vec<f64> = (0..total).map(|i| i as f64 / total as f64 - 0.5).collect();
        for i in (1..total).rev() {
            vals.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        let x = zenrt_core::Tensor::from_vec(vec![n, c, h, w], vals).unwrap();
        let k = rng.int(2, 3) as i64;
        let s = rng.int(1, 2) as i64;
        let p = rng.int(0, 1) as i64;
        let win = vec![("kernel_shape", ints(&[k, 2])), ("strides", ints(&[s, s])), ("pads", ints(&[p, 0, p, 1]))];
        check(vec![diff("x", x.clone())], seed, &|b| Ok(b.node_n("", "MaxPool", &["x"], win.clone(), 1)?.remove(0)));
        for cip in [0, 1] {
            let mut a = win.clone();
            a.push(("count_include_pad", Attr::Int(cip)));
            check(vec![diff("x", x.clone())], seed, &|b| b.node("AveragePool", &["x"], a.clone()));
        }
    }
}

#[test]
fn layer_norm_and_batch_norm_inference() {
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 1500);
        let s = vec![rng.int(1, 3), rng.int(2, 4), rng.int(2, 5)];
        for axis in [-1i64, 1, -2] {
            let norm: Vec<usize> = s[(if axis < 0 { 3 + axis } else { axis }) as usize..].to_vec();
            let ins = vec![
                diff("x", rng.tensor(&s, -1.0, 1.0)),
                diff("g", rng.tensor(&norm, 0.5, 1.5)),
                diff("bt", rng.tensor(&norm, -1.0, 1.0)),
            ];
            check(ins, seed, &|b| {
                b.node(
                    "LayerNormalization",
                    &["x", "g", "bt"],
                    vec![("axis", Attr::Int(axis)), ("epsilon", Attr::Float(1e-3))],
                )
            });
        }
        let c = s[1];
        let ins = vec![
            diff("x", rng.tensor(&[s[0], c, 3, 2], -1.0, 1.0)),
            diff("g", rng.tensor(&[c], 0.5, 1.5)),
            diff("bt", rng.tensor(&[c], -1.0, 1.0)),
            fixed("mu", rng.tensor(&[c], -0.5, 0.5)),
            fixed("var", rng.tensor(&[c], 0.5, 1.5)),
        ];
        check(ins, seed, &|b| b.node("BatchNormalization", &["x", "g", "bt", "mu", "var"], vec![]));
    }
}

#[test]
fn a_small_mlp_and_a_shared_value() {
    // x → Gemm → Relu → MatMul → LogSoftmax, with x also used twice (gradient accumulation).
    let mut rng = Rng(1);
    let ins = vec![
        diff("x", rng.away_from_zero(&[3, 4])),
        diff("w1", rng.tensor(&[4, 5], -1.0, 1.0)),
        diff("b1", rng.tensor(&[5], -1.0, 1.0)),
        diff("w2", rng.tensor(&[5, 3], -1.0, 1.0)),
    ];
    check(ins, 3, &|b| {
        let h = b.node("Gemm", &["x", "w1", "b1"], vec![])?;
        let h = b.node("Tanh", &[&h], vec![])?;
        let o = b.node("MatMul", &[&h, "w2"], vec![])?;
        let o = b.node("LogSoftmax", &[&o], vec![])?;
        let xs = b.node("ReduceSum", &["x"], vec![("keepdims", Attr::Int(1))])?;
        b.mul(&o, &xs)
    });
}

#[test]
fn batch_norm_training_form_as_primitives() {
    // What the Keras-style builder emits for BatchNormalization in training: batch statistics
    // from ReduceMean, normalization from Sub/Mul/Sqrt/Div, per-channel affine.
    for seed in 0..TRIALS {
        let mut rng = Rng(seed + 1600);
        let (n, c, h, w) = (rng.int(2, 3), rng.int(1, 3), rng.int(1, 3), rng.int(1, 3));
        let ins = vec![
            diff("x", rng.tensor(&[n, c, h, w], -1.0, 1.0)),
            diff("g", rng.tensor(&[c, 1, 1], 0.5, 1.5)),
            diff("bt", rng.tensor(&[c, 1, 1], -1.0, 1.0)),
        ];
        check(ins, seed, &|b| {
            let mu = b.reduce_mean("x", &[0, 2, 3], true)?;
            let xc = b.sub("x", &mu)?;
            let sq = b.mul(&xc, &xc)?;
            let var = b.reduce_mean(&sq, &[0, 2, 3], true)?;
            let eps = b.scalar(1e-3, F64)?;
            let ve = b.add(&var, &eps)?;
            let sd = b.node("Sqrt", &[&ve], vec![])?;
            let xh = b.div(&xc, &sd)?;
            let y = b.mul(&xh, "g")?;
            b.add(&y, "bt")
        });
    }
}

#[test]
fn matmul_with_unknown_ranks_uses_einsum_transpose() {
    use std::collections::HashSet;
    use std::sync::Arc;
    use zenrt_core::{Plan, ReferenceBackend, ValueInfo};
    let mut rng = Rng(77);
    let a = rng.tensor(&[2, 3, 4], -1.0, 1.0);
    let w = rng.tensor(&[4, 2], -1.0, 1.0);
    let grads = |hide: bool| {
        let (mut g, y) = graph_of(&[diff("a", a.clone()), diff("w", w.clone())], &|b| {
            let m = b.node("MatMul", &["a", "w"], vec![])?;
            b.node("ReduceSum", &[&m], vec![("keepdims", Attr::Int(0))])
        })
        .unwrap();
        if hide {
            for i in &mut g.inputs {
                i.shape = None;
            }
        }
        g.outputs = vec![ValueInfo::new(y.clone(), None, None)];
        let bg = zenrt_train::autodiff::backward(&g, &y, &["a".into(), "w".into()]).unwrap();
        assert_eq!(bg.nodes.iter().any(|n| n.op_type == "Einsum"), hide);
        let p = Plan::compile(Arc::new(bg), &ReferenceBackend, &HashSet::new()).unwrap();
        let o = p.run(vec![("a".into(), a.clone()), ("w".into(), w.clone())]).unwrap();
        (o[1].to_f64_vec(), o[2].to_f64_vec())
    };
    let (known, hidden) = (grads(false), grads(true));
    assert_eq!(known, hidden);
    // d Σ(A·W)/dW[k, j] = Σ_{b,m} A[b, m, k]
    let av = a.to_f64_vec();
    for k in 0..4 {
        let want: f64 = (0..6).map(|bm| av[bm * 4 + k]).sum();
        assert!((known.1[k * 2] - want).abs() < 1e-12);
    }
}

#[test]
fn transformer_encoder_block() {
    // Embedding → 2-head self-attention (Reshape/Transpose/MatMul/Softmax) → residual →
    // LayerNorm → Gelu MLP → residual: every parameter checked end to end.
    let (bsz, t, d, h, f) = (2usize, 3usize, 4usize, 2usize, 5usize);
    let dh = d / h;
    let mut rng = Rng(2024);
    let ids = i64s(&[bsz, t], vec![0, 3, 5, 1, 1, 4]);
    let ins = vec![
        fixed("ids", ids),
        diff("emb", rng.tensor(&[6, d], -1.0, 1.0)),
        diff("wq", rng.tensor(&[d, d], -0.7, 0.7)),
        diff("wk", rng.tensor(&[d, d], -0.7, 0.7)),
        diff("wv", rng.tensor(&[d, d], -0.7, 0.7)),
        diff("g", rng.tensor(&[d], 0.5, 1.5)),
        diff("beta", rng.tensor(&[d], -0.5, 0.5)),
        diff("w1", rng.tensor(&[d, f], -0.7, 0.7)),
        diff("b1", rng.tensor(&[f], -0.5, 0.5)),
        diff("w2", rng.tensor(&[f, d], -0.7, 0.7)),
    ];
    check(ins, 9, &|b| {
        let x = b.node("Gather", &["emb", "ids"], vec![])?;
        let heads = |b: &mut zenrt_train::autodiff::builder::Builder, w: &str| {
            let p = b.node("MatMul", &[&x, w], vec![])?;
            let s = b.ints(&[bsz as i64, t as i64, h as i64, dh as i64])?;
            let r = b.node("Reshape", &[&p, &s], vec![])?;
            b.node("Transpose", &[&r], vec![("perm", ints(&[0, 2, 1, 3]))])
        };
        let (q, k, v) = (heads(b, "wq")?, heads(b, "wk")?, heads(b, "wv")?);
        let kt = b.node("Transpose", &[&k], vec![("perm", ints(&[0, 1, 3, 2]))])?;
        let sc = b.node("MatMul", &[&q, &kt], vec![])?;
        let scale = b.scalar((dh as f64).sqrt(), F64)?;
        let sc = b.div(&sc, &scale)?;
        let att = b.node("Softmax", &[&sc], vec![("axis", Attr::Int(-1))])?;
        let o = b.node("MatMul", &[&att, &v], vec![])?;
        let o = b.node("Transpose", &[&o], vec![("perm", ints(&[0, 2, 1, 3]))])?;
        let s = b.ints(&[bsz as i64, t as i64, d as i64])?;
        let o = b.node("Reshape", &[&o, &s], vec![])?;
        let r1 = b.add(&x, &o)?;
        let y = b.node("LayerNormalization", &[&r1, "g", "beta"], vec![("axis", Attr::Int(-1))])?;
        let m = b.node("MatMul", &[&y, "w1"], vec![])?;
        let m = b.add(&m, "b1")?;
        let m = b.node("Gelu", &[&m], vec![])?;
        let m = b.node("MatMul", &[&m, "w2"], vec![])?;
        b.add(&y, &m)
    });
}
