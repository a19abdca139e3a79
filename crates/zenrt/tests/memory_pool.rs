//! The executor's buffer pool and in-place reuse, measured with a counting global allocator:
//! warm runs must allocate far fewer bytes than the first run, and outputs must be bit-identical
//! with the pool on and off (and under concurrent runs of one session).
//!
//! The counter is process-wide, so the tests in this file take a lock and run one at a time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use zenrt::onnx::onnx_proto as pb;
use zenrt::testing::vi;
use zenrt::{Session, SessionOptions, Tensor};

struct Counting;

static BYTES: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);
/// Bytes in allocations of at least 4 KiB (tensor storage; bookkeeping is smaller).
static BIG_BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size());
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count(l.size());
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count(new.saturating_sub(l.size()));
        System.realloc(p, l, new)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}

fn count(n: usize) {
    BYTES.fetch_add(n as u64, Ordering::Relaxed);
    CALLS.fetch_add(1, Ordering::Relaxed);
    if n >= 4096 {
        BIG_BYTES.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

/// Bytes and calls allocated during a closure (`calls` is only printed).
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
struct Measured {
    bytes: u64,
    calls: u64,
    big_bytes: u64,
}

fn measure<R>(f: impl FnOnce() -> R) -> (R, Measured) {
    let (b, c, g) = (BYTES.load(Ordering::SeqCst), CALLS.load(Ordering::SeqCst), BIG_BYTES.load(Ordering::SeqCst));
    let r = f();
    let m = Measured {
        bytes: BYTES.load(Ordering::SeqCst) - b,
        calls: CALLS.load(Ordering::SeqCst) - c,
        big_bytes: BIG_BYTES.load(Ordering::SeqCst) - g,
    };
    (r, m)
}

fn f32_init(name: &str, dims: &[i64], seed: u32) -> pb::TensorProto {
    let n: i64 = dims.iter().product();
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut raw = Vec::with_capacity(n as usize * 4);
    for _ in 0..n {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let v = (s % 2001) as f32 / 1000.0 - 1.0;
        raw.extend_from_slice(&(v * 0.1).to_le_bytes());
    }
    pb::TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        raw_data: Some(raw.into()),
        ..Default::default()
    }
}

fn i64_init(name: &str, vals: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: Some(name.into()),
        dims: vec![vals.len() as i64],
        data_type: Some(7),
        int64_data: vals.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, ins: &[&str], outs: &[&str]) -> pb::NodeProto {
    pb::NodeProto {
        op_type: Some(op.into()),
        name: Some(outs[0].into()),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// A small CNN + MLP head: Conv→Relu→Conv→Add(residual)→Relu→Flatten→MatMul→Add→Relu→MatMul→
/// Add→Clip→Reshape, on x: float32[2,8,16,16].
fn cnn_mlp_model() -> Vec<u8> {
    let conv = |ins: &[&str], out: &str| {
        let mut n = node("Conv", ins, &[out]);
        n.attribute = vec![
            pb::AttributeProto {
                name: Some("pads".into()),
                r#type: Some(7),
                ints: vec![1, 1, 1, 1],
                ..Default::default()
            },
            pb::AttributeProto {
                name: Some("kernel_shape".into()),
                r#type: Some(7),
                ints: vec![3, 3],
                ..Default::default()
            },
        ];
        n
    };
    let nodes = vec![
        conv(&["x", "w1", "b1"], "c1"),
        node("Relu", &["c1"], &["r1"]),
        conv(&["r1", "w2", "b2"], "c2"),
        node("Add", &["c2", "x"], &["s1"]),
        node("Relu", &["s1"], &["r2"]),
        node("Flatten", &["r2"], &["f"]),
        node("MatMul", &["f", "m1"], &["h1"]),
        node("Add", &["h1", "d1"], &["h2"]),
        node("Relu", &["h2"], &["h3"]),
        node("MatMul", &["h3", "m2"], &["h4"]),
        node("Add", &["h4", "d2"], &["h5"]),
        node("Clip", &["h5", "lo", "hi"], &["h6"]),
        node("Reshape", &["h6", "shape"], &["y"]),
    ];
    let mut lo = f32_init("lo", &[], 0);
    lo.raw_data = Some((-0.05f32).to_le_bytes().to_vec().into());
    let mut hi = f32_init("hi", &[], 0);
    hi.raw_data = Some(0.05f32.to_le_bytes().to_vec().into());
    let inits = vec![
        f32_init("w1", &[8, 8, 3, 3], 1),
        f32_init("b1", &[8], 2),
        f32_init("w2", &[8, 8, 3, 3], 3),
        f32_init("b2", &[8], 4),
        f32_init("m1", &[2048, 256], 5),
        f32_init("d1", &[256], 6),
        f32_init("m2", &[256, 64], 7),
        f32_init("d2", &[64], 8),
        lo,
        hi,
        i64_init("shape", &[2, 8, 8]),
    ];
    let m = pb::ModelProto {
        ir_version: Some(8),
        opset_import: vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
        graph: Some(pb::GraphProto {
            name: Some("cnn_mlp".into()),
            node: nodes,
            initializer: inits,
            input: vec![vi("x", 1, &[2, 8, 16, 16])],
            output: vec![vi("y", 1, &[2, 8, 8])],
            ..Default::default()
        }),
        ..Default::default()
    };
    prost::Message::encode_to_vec(&m)
}

/// No GEMM (whose library allocates packing space per call): a depthwise Conv (direct loops),
/// Relu, residual Add, Sigmoid, Mul, Flatten, Clip on x: float32[2,16,32,32].
fn depthwise_model() -> Vec<u8> {
    let mut dw = node("Conv", &["x", "w", "b"], &["c"]);
    let ints = |name: &str, v: &[i64]| pb::AttributeProto {
        name: Some(name.into()),
        r#type: Some(7),
        ints: v.to_vec(),
        ..Default::default()
    };
    dw.attribute = vec![ints("pads", &[1, 1, 1, 1]), ints("kernel_shape", &[3, 3])];
    dw.attribute.push(pb::AttributeProto {
        name: Some("group".into()),
        r#type: Some(2),
        i: Some(16),
        ..Default::default()
    });
    let nodes = vec![
        dw,
        node("Relu", &["c"], &["r"]),
        node("Add", &["r", "x"], &["s"]),
        node("Sigmoid", &["s"], &["g"]),
        node("Mul", &["g", "x"], &["m"]),
        node("Flatten", &["m"], &["f"]),
        node("Clip", &["f"], &["y"]),
    ];
    let m = pb::ModelProto {
        ir_version: Some(8),
        opset_import: vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
        graph: Some(pb::GraphProto {
            name: Some("depthwise".into()),
            node: nodes,
            initializer: vec![f32_init("w", &[16, 1, 3, 3], 11), f32_init("b", &[16], 12)],
            input: vec![vi("x", 1, &[2, 16, 32, 32])],
            output: vec![vi("y", 1, &[2, 16384])],
            ..Default::default()
        }),
        ..Default::default()
    };
    prost::Message::encode_to_vec(&m)
}

fn input_dw(seed: u32) -> Tensor {
    xorshift_tensor(seed.wrapping_add(777), vec![2, 16, 32, 32])
}

/// Float64 reference of `depthwise_model`.
fn reference_dw(x: &Tensor) -> Vec<f64> {
    let model = zenrt::onnx::load_model_bytes(&depthwise_model(), &Default::default()).unwrap();
    let (w, b) = (model.graph.initializers["w"].to_f64_vec(), model.graph.initializers["b"].to_f64_vec());
    let xs = x.to_f64_vec();
    let mut out = vec![0.0; xs.len()];
    for n in 0..2 {
        for c in 0..16 {
            for oy in 0..32i64 {
                for ox in 0..32i64 {
                    let mut acc = b[c];
                    for ky in 0..3i64 {
                        for kx in 0..3i64 {
                            let (iy, ix) = (oy + ky - 1, ox + kx - 1);
                            if (0..32).contains(&iy) && (0..32).contains(&ix) {
                                acc += xs[((n * 16 + c) * 32 + iy as usize) * 32 + ix as usize]
                                    * w[(c * 3 + ky as usize) * 3 + kx as usize];
                            }
                        }
                    }
                    let i = ((n * 16 + c) * 32 + oy as usize) * 32 + ox as usize;
                    let s = acc.max(0.0) + xs[i];
                    out[i] = xs[i] / (1.0 + (-s).exp());
                }
            }
        }
    }
    out
}

#[test]
fn warm_runs_without_gemm_allocate_only_the_output() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = Session::from_bytes(&depthwise_model()).unwrap();
    s.plan().set_pool_enabled(true);
    let x = input_dw(1);
    let want = reference_dw(&x);
    let (first, m1) = measure(|| s.run([("x", x.clone())]).unwrap());
    let got = first.get("y").unwrap();
    let err = got.to_f64_vec().iter().zip(&want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(err < 1e-5, "differs from the float64 reference by {err}");
    let out_bytes = got.nbytes() as u64;
    for r in 0..3 {
        let xc = x.clone();
        let (o, m) = measure(|| s.run([("x", xc)]).unwrap());
        eprintln!("depthwise: first run {m1:?}; warm run {r} {m:?}; output {out_bytes} bytes");
        assert_eq!(bits(o.get("y").unwrap()), bits(got), "warm run output differs");
        assert!(m.big_bytes <= out_bytes, "warm run {r}: {} bytes in big blocks, output is {out_bytes}", m.big_bytes);
    }
    eprintln!(
        "pool {:?}, holds {} bytes, cap {}",
        s.plan().pool().stats(),
        s.plan().pool().held_bytes(),
        s.plan().pool().cap()
    );
    let off = Session::from_bytes(&depthwise_model()).unwrap();
    off.plan().set_pool_enabled(false);
    let xc = x.clone();
    let (o, m_off) = measure(|| off.run([("x", xc)]).unwrap());
    eprintln!("depthwise: pool off {m_off:?}");
    assert_eq!(bits(o.get("y").unwrap()), bits(got));
}

fn input_x(seed: u32) -> Tensor {
    xorshift_tensor(seed.wrapping_add(12345), vec![2, 8, 16, 16])
}

/// A tensor of the given shape filled from a xorshift stream, values in [-1, 1).
fn xorshift_tensor(mut s: u32, shape: Vec<usize>) -> Tensor {
    let v: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 1000) as f32 / 500.0 - 1.0
        })
        .collect();
    Tensor::from_vec(shape, v).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.as_slice::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
}

/// A float64 reference of the synthetic model, straight from its definition (no zenrt kernels).
fn reference(x: &Tensor) -> Vec<f64> {
    let model = zenrt::onnx::load_model_bytes(&cnn_mlp_model(), &Default::default()).unwrap();
    let w = |n: &str| model.graph.initializers[n].to_f64_vec();
    let xs = x.to_f64_vec();
    let conv = |inp: &[f64], wt: &[f64], b: &[f64]| {
        let mut out = vec![0.0; 2 * 8 * 256];
        for n in 0..2 {
            for m in 0..8 {
                for oy in 0..16i64 {
                    for ox in 0..16i64 {
                        let mut acc = b[m];
                        for c in 0..8 {
                            for ky in 0..3i64 {
                                for kx in 0..3i64 {
                                    let (iy, ix) = (oy + ky - 1, ox + kx - 1);
                                    if (0..16).contains(&iy) && (0..16).contains(&ix) {
                                        acc += inp[((n * 8 + c) * 16 + iy as usize) * 16 + ix as usize]
                                            * wt[((m * 8 + c) * 3 + ky as usize) * 3 + kx as usize];
                                    }
                                }
                            }
                        }
                        out[((n * 8 + m) * 16 + oy as usize) * 16 + ox as usize] = acc;
                    }
                }
            }
        }
        out
    };
    let c1: Vec<f64> = conv(&xs, &w("w1"), &w("b1")).into_iter().map(|v| v.max(0.0)).collect();
    let c2 = conv(&c1, &w("w2"), &w("b2"));
    let r2: Vec<f64> = c2.iter().zip(&xs).map(|(a, b)| (a + b).max(0.0)).collect();
    let dense = |inp: &[f64], rows: usize, k: usize, wt: &[f64], b: &[f64], n: usize| {
        let mut out = vec![0.0; rows * n];
        for r in 0..rows {
            for j in 0..n {
                out[r * n + j] = b[j] + (0..k).map(|i| inp[r * k + i] * wt[i * n + j]).sum::<f64>();
            }
        }
        out
    };
    let h3: Vec<f64> = dense(&r2, 2, 2048, &w("m1"), &w("d1"), 256).into_iter().map(|v| v.max(0.0)).collect();
    dense(&h3, 2, 256, &w("m2"), &w("d2"), 64).into_iter().map(|v| v.clamp(-0.05, 0.05)).collect()
}

#[test]
fn warm_runs_allocate_little_and_match_the_reference() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = Session::from_bytes(&cnn_mlp_model()).unwrap();
    s.plan().set_pool_enabled(true);
    let x = input_x(1);
    let want = reference(&x);
    let (first, m1) = measure(|| s.run([("x", x.clone())]).unwrap());
    let mut warm = Vec::new();
    let mut outs = Vec::new();
    for _ in 0..3 {
        let xc = x.clone(); // the caller's copy, made outside the measurement
        let (o, m) = measure(|| s.run([("x", xc)]).unwrap());
        warm.push(m);
        outs.push(o);
    }
    let out_bytes = (2 * 8 * 8 * 4) as u64;
    eprintln!("synthetic CNN+MLP: first run {m1:?}; warm runs {warm:?}; output {out_bytes} bytes");
    eprintln!(
        "pool: {:?}, holds {} bytes, cap {}",
        s.plan().pool().stats(),
        s.plan().pool().held_bytes(),
        s.plan().pool().cap()
    );
    let got = first.get("y").unwrap();
    assert_eq!(got.shape(), &[2, 8, 8]);
    let err = got.to_f64_vec().iter().zip(&want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(err < 1e-5, "differs from the float64 reference by {err}");
    let off = Session::from_bytes(&cnn_mlp_model()).unwrap();
    off.plan().set_pool_enabled(false);
    let xc = x.clone();
    let (_, m_off) = measure(|| off.run([("x", xc)]).unwrap());
    eprintln!("synthetic CNN+MLP, pool off: {m_off:?}");
    // What the pool saves per warm run: at least the two big intermediates (c1, c2: 16 KiB each).
    // (The convolution packs its GEMM panels straight from the image, so there is no im2col buffer
    // to save; what remains is the GEMM's own packing space.)
    let saved = (2 * 16384) as u64;
    for (m, o) in warm.iter().zip(&outs) {
        assert_eq!(bits(o.get("y").unwrap()), bits(got), "warm run output differs");
        assert!(
            m.big_bytes + saved <= m_off.big_bytes,
            "warm run {} bytes in big blocks, pool off {}",
            m.big_bytes,
            m_off.big_bytes
        );
    }
}

#[test]
fn pool_on_and_off_give_identical_outputs() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let on = Session::from_bytes(&cnn_mlp_model()).unwrap();
    let off = Session::from_bytes(&cnn_mlp_model()).unwrap();
    on.plan().set_pool_enabled(true);
    off.plan().set_pool_enabled(false);
    for seed in 0..4 {
        let x = input_x(seed);
        let a = on.run([("x", x.clone())]).unwrap();
        let b = off.run([("x", x)]).unwrap();
        assert_eq!(bits(a.get("y").unwrap()), bits(b.get("y").unwrap()), "seed {seed}");
    }
    let (_, m_off) = measure(|| off.run([("x", input_x(9))]).unwrap());
    let (_, m_on) = measure(|| on.run([("x", input_x(9))]).unwrap());
    eprintln!("warm run, pool off: {m_off:?}; pool on: {m_on:?}");
    assert!(m_on.big_bytes < m_off.big_bytes);
}

#[test]
fn concurrent_runs_of_one_session_are_correct() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = Session::from_bytes(&cnn_mlp_model()).unwrap();
    s.plan().set_pool_enabled(true);
    let want: Vec<Vec<u32>> = (0..4).map(|i| bits(s.run([("x", input_x(i))]).unwrap().get("y").unwrap())).collect();
    std::thread::scope(|sc| {
        for t in 0..4u32 {
            let (s, want) = (&s, &want);
            sc.spawn(move || {
                for r in 0..6u32 {
                    let i = (t + r) % 4;
                    let got = s.run([("x", input_x(i))]).unwrap();
                    assert_eq!(&bits(got.get("y").unwrap()), &want[i as usize], "thread {t} run {r}");
                }
            });
        }
    });
}

/// Conv weights packed into their final form at plan time (static input shape) are released: the
/// plan's graph keeps only their type and shape, the session's model no initializers, and the
/// outputs still match the float64 reference. With symbolic spatial dims the packed form can
/// change with the input shape, so the raw weights stay.
#[test]
fn packed_conv_weights_release_the_raw_ones() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let x = input_x(1);
    let want = reference(&x);
    let close = |s: &Session| {
        let out = s.run([("x", x.clone())]).unwrap();
        let got = out.get("y").unwrap().to_f64_vec();
        let err = got.iter().zip(&want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(got.len() == want.len() && err < 1e-5, "differs from the float64 reference by {err}");
    };
    let s = Session::from_bytes(&cnn_mlp_model()).unwrap();
    let g = s.plan().graph();
    for w in ["w1", "w2"] {
        assert!(!g.initializers.contains_key(w), "{w} is still held");
        assert_eq!(g.value_info.get(w).and_then(|v| v.concrete_shape()), Some(vec![8, 8, 3, 3]));
    }
    assert!(g.initializers.contains_key("b1") && g.initializers.contains_key("m1"));
    assert!(s.model().graph.initializers.is_empty());
    let plan = s.memory_plan(&[], &Default::default()).unwrap();
    assert!(plan.dynamic.is_empty(), "released weights keep their shapes: {:?}", plan.dynamic);
    let raw_held: usize = g.initializers.values().map(|t| t.nbytes()).sum();
    assert!(plan.weight_bytes > raw_held, "packed weights count as weights");
    close(&s);

    let mut m: pb::ModelProto = prost::Message::decode(&cnn_mlp_model()[..]).unwrap();
    if let Some(g) = m.graph.as_mut() {
        g.input = vec![vi("x", 1, &[2, 8, -1, -1])];
    }
    let d = Session::from_bytes(&prost::Message::encode_to_vec(&m)).unwrap();
    assert!(d.plan().graph().initializers.contains_key("w1"), "symbolic spatial dims keep the raw weights");
    close(&d);
}

#[test]
fn memory_plan_of_the_synthetic_model() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = Session::from_bytes(&cnn_mlp_model()).unwrap();
    let plan = s.memory_plan(&[], &Default::default()).unwrap();
    eprintln!("{plan}");
    assert!(plan.dynamic.is_empty(), "all sizes are static: {:?}", plan.dynamic);
    // Independent check of the sizes: the conv outputs are 2*8*16*16 floats.
    let c1 = plan.values.iter().find(|v| v.value == "c1");
    if let Some(c1) = c1 {
        assert_eq!(c1.bytes, 2 * 8 * 16 * 16 * 4);
    }
    // No two values live at the same step overlap in the arena (unless one reuses the other in place).
    for (i, a) in plan.values.iter().enumerate() {
        for b in &plan.values[..i] {
            let live_together = a.def_step <= b.last_step && b.def_step <= a.last_step;
            if live_together && a.buffer != b.buffer {
                assert!(
                    a.offset + a.bytes <= b.offset || b.offset + b.bytes <= a.offset,
                    "{} overlaps {}",
                    a.value,
                    b.value
                );
            }
        }
        assert!(a.offset + a.bytes <= plan.arena_bytes);
    }
    assert!(plan.arena_bytes >= plan.peak_live_bytes);
    assert!(plan.arena_bytes < plan.total_bytes, "reuse must beat one buffer per value");
    assert!(plan.values.iter().any(|v| v.in_place_of.is_some()), "Relu/Add/Reshape run in place");
}

/// Real models (when exported): warm runs vs the first, and pool on/off outputs identical.
#[test]
fn real_models_warm_runs() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(root) = std::env::var_os("ZENRT_MODELS")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/zenrt/models")))
        .filter(|d| d.is_dir())
    else {
        eprintln!("SKIP: no exported models");
        return;
    };
    for name in ["mobilenet_v2", "resnet50", "bert", "lstm"] {
        let dir = root.join(name);
        if !dir.join("model.onnx").is_file() {
            eprintln!("SKIP {name}: not exported");
            continue;
        }
        let inputs = zenrt::npy::read_npz(dir.join("b1_inputs.npz")).unwrap();
        let on = Session::from_file_with(dir.join("model.onnx"), &SessionOptions::default()).unwrap();
        on.plan().set_pool_enabled(true);
        let (first, m1) = measure(|| on.run(inputs.clone()).unwrap());
        let warm: Vec<Measured> = (0..2)
            .map(|_| {
                let ins = inputs.clone();
                measure(|| on.run(ins).unwrap()).1
            })
            .collect();
        let off = Session::from_file(dir.join("model.onnx")).unwrap();
        off.plan().set_pool_enabled(false);
        let (b, m_off) = measure(|| off.run(inputs.clone()).unwrap());
        let out_bytes: usize = first.values.iter().filter_map(|v| v.as_tensor().ok()).map(|t| t.nbytes()).sum();
        eprintln!(
            "{name}: first run {m1:?}; warm {warm:?}; pool off {m_off:?}; outputs {out_bytes} bytes; pool {:?} holds {} cap {}",
            on.plan().pool().stats(),
            on.plan().pool().held_bytes(),
            on.plan().pool().cap()
        );
        for ((n, a), bv) in first.iter().zip(&b.values) {
            assert_eq!(a, bv, "{name} output {n} differs with the pool off");
        }
        assert!(
            warm[1].big_bytes <= m_off.big_bytes,
            "{name}: warm run {} bytes, pool off {}",
            warm[1].big_bytes,
            m_off.big_bytes
        );
    }
}
