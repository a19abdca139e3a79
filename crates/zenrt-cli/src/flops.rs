//! `zenrt inspect MODEL --flops [--dim NAME=VALUE]...`: the floating-point work of one run.
//!
//! Counts 2 × multiply-adds of the dense-algebra operators — Conv, ConvTranspose, MatMul, Gemm, the RNNs
//! (LSTM, GRU, RNN: their input and recurrent matrix products) and zenrt's fused FusedConv/FusedGemm/FusedMatMul —
//! from statically inferred shapes (`zenrt_core::infer`), after the named symbolic input dims are set. Everything
//! else (elementwise, normalization, pooling, softmax, biases) is left out: it is a small share of the arithmetic
//! of the models this is meant for, and not what a GEMM ceiling bounds. A node whose shapes cannot be inferred is
//! listed as not counted, so an undercount is visible.

use crate::util::{CliError, CliResult};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::ExitCode;
use zenrt::{Dim, Graph, ValueInfo};

/// Multiply-adds of one node, or why they could not be counted; None for operators that are not counted.
type NodeMacs = Option<Result<u128, String>>;

/// The FLOP count of a graph, by operator type.
#[derive(Debug, Default, PartialEq)]
pub struct FlopCount {
    /// (nodes, FLOPs) per counted operator type.
    pub by_op: BTreeMap<String, (usize, u128)>,
    /// Counted operators whose shapes were not known: "node (op): reason".
    pub uncounted: Vec<String>,
}

impl FlopCount {
    /// Sum over all counted nodes.
    pub fn total(&self) -> u128 {
        self.by_op.values().map(|(_, f)| f).sum()
    }
}

/// Parses `NAME=VALUE` dim settings.
pub fn parse_dims(specs: &[String]) -> CliResult<HashMap<String, usize>> {
    specs
        .iter()
        .map(|s| {
            let (k, v) = s.split_once('=').ok_or_else(|| CliError::Msg(format!("--dim {s}: expected NAME=VALUE")))?;
            let v = v.trim().parse().map_err(|e| CliError::Msg(format!("--dim {s}: {e}")))?;
            Ok((k.trim().to_string(), v))
        })
        .collect()
}

/// `graph` with its symbolic input dims set from `dims` (dims not named stay symbolic).
fn with_dims(graph: &Graph, dims: &HashMap<String, usize>) -> Graph {
    let mut g = graph.clone();
    for vi in &mut g.inputs {
        if let Some(shape) = vi.shape.as_mut() {
            for d in shape.iter_mut() {
                if let Dim::Sym(s) = d {
                    if let Some(&v) = dims.get(s.as_str()) {
                        *d = Dim::Known(v);
                    }
                }
            }
        }
    }
    g
}

/// Counts the FLOPs of `graph` from static shape inference, with its symbolic input dims set from `dims`; nodes
/// whose shapes inference cannot tell (or that depend on dims not named) are reported as not counted.
pub fn count(graph: &Graph, dims: &HashMap<String, usize>) -> FlopCount {
    let g = with_dims(graph, dims);
    let known = zenrt::core::infer::infer_graph(&g);
    count_with(&g, &known)
}

/// Operator types whose multiply-adds are counted, and the input positions their count reads.
fn counted_inputs(op_type: &str) -> Option<&'static [usize]> {
    match op_type {
        "Conv" | "FusedConv" | "ConvTranspose" | "LSTM" | "GRU" | "RNN" => Some(&[0, 1]),
        "MatMul" | "FusedMatMul" | "Gemm" | "FusedGemm" => Some(&[0]),
        _ => None,
    }
}

/// Counts the FLOPs of `graph` with shapes measured by running it once (no graph passes) on generated inputs
/// whose symbolic dims come from `dims`: for exports whose shape arithmetic static inference cannot follow.
pub fn count_measured(model: &zenrt::Model, dims: &HashMap<String, usize>) -> CliResult<FlopCount> {
    let graph = &model.graph;
    let mut g = graph.clone();
    let mut wanted: Vec<String> = Vec::new();
    for n in &graph.nodes {
        if let Some(ins) = counted_inputs(&n.op_type) {
            wanted.extend(ins.iter().filter_map(|&i| n.inputs.get(i)).filter(|s| !s.is_empty()).cloned());
            wanted.extend(n.outputs.first().filter(|s| !s.is_empty()).cloned());
        }
    }
    wanted.sort();
    wanted.dedup();
    // Initializers (weights) have known shapes already; every other wanted value becomes a graph output.
    for w in &wanted {
        if !g.initializers.contains_key(w) && !g.outputs.iter().any(|o| &o.name == w) {
            g.outputs.push(ValueInfo::new(w.clone(), None, None));
        }
    }
    let model = zenrt::Model { graph: g, ..model.clone() };
    let opts = zenrt::SessionOptions {
        passes: zenrt::PassOptions { disable_all: true, ..Default::default() },
        ..Default::default()
    };
    let session = zenrt::Session::from_model(model, &opts)?;
    let args = crate::inputs::InputArgs {
        inputs: None,
        input: vec![],
        dim: dims.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        seed: 0,
        device: "cpu".into(),
        tf32: false,
        cpu_fallback: false,
        precision: "fp32".into(),
    };
    let feeds = crate::inputs::make_inputs(&session, &args, None, false)?;
    let outs = session.run(feeds)?;
    let mut known: HashMap<String, ValueInfo> = HashMap::new();
    for w in &wanted {
        let t = outs.get(w).map(|t| (t.dtype(), t.shape().to_vec()));
        let t = t.or_else(|| graph.initializers.get(w).map(|t| (t.dtype(), t.shape().to_vec())));
        if let Some((dt, shape)) = t {
            known.insert(
                w.clone(),
                ValueInfo::new(w.clone(), Some(dt), Some(shape.into_iter().map(Dim::Known).collect())),
            );
        }
    }
    Ok(count_with(graph, &known))
}

/// Counts the FLOPs of `g`'s nodes from the value shapes in `known`.
fn count_with(g: &Graph, known: &HashMap<String, ValueInfo>) -> FlopCount {
    let mut fc = FlopCount::default();
    for n in &g.nodes {
        let shape = |i: usize| -> Result<Vec<usize>, String> {
            let name = n.inputs.get(i).filter(|s| !s.is_empty()).ok_or(format!("input {i} absent"))?;
            concrete(known.get(name)).ok_or(format!("shape of '{name}' unknown"))
        };
        let out_shape = || -> Result<Vec<usize>, String> {
            let name = n.outputs.first().ok_or("no output")?;
            concrete(known.get(name)).ok_or(format!("shape of '{name}' unknown"))
        };
        let int = |name: &str, default: i64| match n.attrs.get(name) {
            Some(zenrt::core::Attr::Int(v)) => *v,
            _ => default,
        };
        let macs: NodeMacs = match n.op_type.as_str() {
            "Conv" | "FusedConv" => Some(conv_macs(&shape(1), &out_shape())),
            "ConvTranspose" => Some(conv_transpose_macs(&shape(0), &shape(1), int("group", 1))),
            "MatMul" | "FusedMatMul" => Some(matmul_macs(&shape(0), &out_shape())),
            "Gemm" | "FusedGemm" => Some(gemm_macs(&shape(0), &out_shape(), int("transA", 0) != 0)),
            "LSTM" => Some(rnn_macs(&shape(0), &shape(1), 4, int("layout", 0))),
            "GRU" => Some(rnn_macs(&shape(0), &shape(1), 3, int("layout", 0))),
            "RNN" => Some(rnn_macs(&shape(0), &shape(1), 1, int("layout", 0))),
            _ => None,
        };
        match macs {
            None => {}
            Some(Ok(m)) => {
                let e = fc.by_op.entry(n.op_type.clone()).or_default();
                e.0 += 1;
                e.1 += 2 * m;
            }
            Some(Err(why)) => fc.uncounted.push(format!("{} ({}): {why}", n.name, n.op_type)),
        }
    }
    fc
}

fn concrete(vi: Option<&ValueInfo>) -> Option<Vec<usize>> {
    vi?.concrete_shape()
}

fn prod(d: &[usize]) -> u128 {
    d.iter().map(|&x| x as u128).product()
}

/// Conv: every output element is a dot product over (C / group) × kernel; W is [M, C/group, k...].
fn conv_macs(w: &Result<Vec<usize>, String>, out: &Result<Vec<usize>, String>) -> Result<u128, String> {
    let (w, out) = (w.as_ref()?, out.as_ref()?);
    if w.len() < 2 {
        return Err(format!("weight of rank {}", w.len()));
    }
    Ok(prod(out) * prod(&w[1..]))
}

/// ConvTranspose: every input element scatters into (M / group) × kernel outputs; X is [N, C, d...], W is
/// [C, M/group, k...].
fn conv_transpose_macs(
    x: &Result<Vec<usize>, String>,
    w: &Result<Vec<usize>, String>,
    _group: i64,
) -> Result<u128, String> {
    let (x, w) = (x.as_ref()?, w.as_ref()?);
    if w.len() < 2 {
        return Err(format!("weight of rank {}", w.len()));
    }
    Ok(prod(x) * prod(&w[1..]))
}

/// MatMul: every output element is a dot product over K, the last dim of A (its only dim when A is a vector).
fn matmul_macs(a: &Result<Vec<usize>, String>, out: &Result<Vec<usize>, String>) -> Result<u128, String> {
    let (a, out) = (a.as_ref()?, out.as_ref()?);
    let k = *a.last().ok_or("scalar operand")?;
    Ok(prod(out) * k as u128)
}

/// Gemm: out [M, N], K from A's shape ([M, K], or [K, M] with transA).
fn gemm_macs(a: &Result<Vec<usize>, String>, out: &Result<Vec<usize>, String>, trans_a: bool) -> Result<u128, String> {
    let (a, out) = (a.as_ref()?, out.as_ref()?);
    let k = match (a.as_slice(), trans_a) {
        ([_, k], false) | ([k, _], true) => *k,
        _ => return Err(format!("A of rank {}", a.len())),
    };
    Ok(prod(out) * k as u128)
}

/// LSTM/GRU/RNN: per step, direction and batch row, `gates × hidden` outputs of an input product (over
/// input_size) and a recurrent product (over hidden). X is [seq, batch, input] ([batch, seq, input] with
/// layout 1); W is [directions, gates × hidden, input].
fn rnn_macs(
    x: &Result<Vec<usize>, String>,
    w: &Result<Vec<usize>, String>,
    gates: usize,
    layout: i64,
) -> Result<u128, String> {
    let (x, w) = (x.as_ref()?, w.as_ref()?);
    let (&[d0, d1, input], &[dirs, gh, _]) = (x.as_slice(), w.as_slice()) else {
        return Err("X and W must be of rank 3".into());
    };
    let (seq, batch) = if layout == 0 { (d0, d1) } else { (d1, d0) };
    let hidden = gh / gates;
    Ok(prod(&[dirs, seq, batch, gh]) * (input + hidden) as u128)
}

fn giga(f: u128) -> String {
    format!("{:.3} GFLOP", f as f64 / 1e9)
}

/// Prints the FLOP count of the model at `path` (after `zenrt inspect`'s own report). The last line is
/// `flops total: N` (N an integer), for scripts.
pub fn report(path: &Path, dim_specs: &[String]) -> CliResult<ExitCode> {
    let dims = parse_dims(dim_specs)?;
    let model = zenrt::onnx::load_model(path)?;
    let mut fc = count(&model.graph, &dims);
    let mut how = "static shape inference";
    if !fc.uncounted.is_empty() {
        // Shape arithmetic static inference cannot follow (e.g. BERT's embedding block): measure the shapes.
        match count_measured(&model, &dims) {
            Ok(m) if m.uncounted.len() < fc.uncounted.len() => {
                fc = m;
                how = "shapes measured by one run on generated inputs (static inference left nodes unknown)";
            }
            Ok(_) => {}
            Err(e) => eprintln!("zenrt: note: could not measure shapes by a run: {e}"),
        }
    }
    let mut set: Vec<String> = dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
    set.sort();
    let set = if set.is_empty() { "none".to_string() } else { set.join(", ") };
    println!("flops (2 x multiply-adds of Conv/ConvTranspose/MatMul/Gemm/LSTM/GRU/RNN; dims set: {set}; {how}):");
    let w = fc.by_op.keys().map(|k| k.len()).max().unwrap_or(0);
    for (op, (nodes, f)) in &fc.by_op {
        println!("  {op:<w$}  {nodes:>4} node(s)  {}", giga(*f));
    }
    if !fc.uncounted.is_empty() {
        println!(
            "  not counted ({} node(s), shapes unknown: set their dims with --dim NAME=VALUE):",
            fc.uncounted.len()
        );
        for u in fc.uncounted.iter().take(10) {
            println!("    {u}");
        }
    }
    println!("flops total: {} ({}; {} node(s) not counted)", fc.total(), giga(fc.total()), fc.uncounted.len());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &[usize]) -> Result<Vec<usize>, String> {
        Ok(v.to_vec())
    }

    #[test]
    fn conv_counts_output_times_reduction() {
        // 2×8×10×10 input, 6 output channels, groups 2, 3×3 kernel, stride 2, pad 1 → 2×6×5×5 output;
        // each output is a dot product over 8/2 channels × 9 taps.
        assert_eq!(conv_macs(&ok(&[6, 4, 3, 3]), &ok(&[2, 6, 5, 5])), Ok(300 * 36));
        assert!(conv_macs(&ok(&[6]), &ok(&[2, 6, 5, 5])).is_err());
    }

    #[test]
    fn matmul_and_gemm() {
        // Batched [3,4,5] x [5,7] → [3,4,7]: 3·4·7 dot products of length 5.
        assert_eq!(matmul_macs(&ok(&[3, 4, 5]), &ok(&[3, 4, 7])), Ok(3 * 4 * 7 * 5));
        // Gemm with transA: A is [K=5, M=4].
        assert_eq!(gemm_macs(&ok(&[5, 4]), &ok(&[4, 9]), true), Ok(4 * 9 * 5));
        assert_eq!(gemm_macs(&ok(&[4, 5]), &ok(&[4, 9]), false), Ok(4 * 9 * 5));
        assert!(gemm_macs(&ok(&[4]), &ok(&[4, 9]), false).is_err());
        assert!(matmul_macs(&Err("x".into()), &ok(&[1])).is_err());
    }

    #[test]
    fn rnn_counts_input_and_recurrent_products() {
        // LSTM, 2 directions, seq 7, batch 3, input 10, hidden 6: per step and direction,
        // X_t[3×10]·W^T[10×24] + H[3×6]·R^T[6×24].
        let want = 2 * 7 * (3 * 10 * 24 + 3 * 6 * 24) as u128;
        assert_eq!(rnn_macs(&ok(&[7, 3, 10]), &ok(&[2, 24, 10]), 4, 0), Ok(want));
        assert_eq!(rnn_macs(&ok(&[3, 7, 10]), &ok(&[2, 24, 10]), 4, 1), Ok(want));
    }

    #[test]
    fn conv_transpose_scatters_each_input() {
        // X [1,4,5,5], W [4, 3, 2, 2] (group 1, M = 3): 100 inputs × 12 taps.
        assert_eq!(conv_transpose_macs(&ok(&[1, 4, 5, 5]), &ok(&[4, 3, 2, 2]), 1), Ok(100 * 12));
    }

    /// A graph `y = MatMul(Conv(x, w), m)` with x: float32[n, 2, 5, 5] (n symbolic), w: [4, 2, 3, 3] (valid
    /// padding → [n, 4, 3, 3]), m: [3, 7] → y: [n, 4, 3, 7].
    fn conv_matmul_model() -> zenrt::Model {
        use zenrt::onnx::onnx_proto as pb;
        use zenrt::testing::vi;
        let init = |name: &str, dims: &[i64]| pb::TensorProto {
            name: Some(name.into()),
            data_type: Some(1),
            dims: dims.to_vec(),
            float_data: vec![0.5; dims.iter().product::<i64>() as usize],
            ..Default::default()
        };
        let node = |op: &str, ins: &[&str], out: &str| pb::NodeProto {
            input: ins.iter().map(|s| s.to_string()).collect(),
            output: vec![out.into()],
            op_type: Some(op.into()),
            name: Some(format!("{op}_0")),
            ..Default::default()
        };
        let m = pb::ModelProto {
            ir_version: Some(8),
            opset_import: vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
            graph: Some(pb::GraphProto {
                name: Some("conv_matmul".into()),
                node: vec![node("Conv", &["x", "w"], "c"), node("MatMul", &["c", "m"], "y")],
                initializer: vec![init("w", &[4, 2, 3, 3]), init("m", &[3, 7])],
                input: vec![vi("x", 1, &[-1, 2, 5, 5])],
                output: vec![vi("y", 1, &[-1, 4, 3, 7])],
                ..Default::default()
            }),
            ..Default::default()
        };
        use prost::Message;
        zenrt::onnx::load_model_bytes(&m.encode_to_vec(), &Default::default()).unwrap()
    }

    #[test]
    fn counts_a_graph_once_its_dims_are_set() {
        let model = conv_matmul_model();
        let fc = count(&model.graph, &HashMap::from([("n".to_string(), 3)]));
        // Conv: 3·4·3·3 outputs × 2·3·3 taps; MatMul: 3·4·3·7 outputs × K = 3. FLOPs = 2 × MACs.
        let (conv, matmul) = (3 * 4 * 9 * 18, 3 * 4 * 3 * 7 * 3);
        assert_eq!(fc.by_op["Conv"], (1, 2 * conv));
        assert_eq!(fc.by_op["MatMul"], (1, 2 * matmul));
        assert_eq!(fc.total(), 2 * (conv + matmul));
        assert!(fc.uncounted.is_empty());
        // Without the batch dim nothing is countable, and both nodes say so.
        let fc = count(&model.graph, &HashMap::new());
        assert_eq!((fc.total(), fc.uncounted.len()), (0, 2));
    }

    /// The exported torchvision ResNet-50 against its published cost (4.09 G multiply-adds at 224×224, torchvision's
    /// model table); skipped when the models are not exported.
    #[test]
    fn resnet50_matches_the_published_cost() {
        let dir = std::env::var_os("ZENRT_MODELS")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/zenrt/models")));
        let Some(path) = dir.map(|d| d.join("resnet50/model.onnx")).filter(|p| p.is_file()) else {
            eprintln!("SKIP: no exported resnet50");
            return;
        };
        let model = zenrt::onnx::load_model(&path).unwrap();
        let fc = count(&model.graph, &HashMap::from([("batch".to_string(), 2)]));
        let gmacs_per_image = fc.total() as f64 / 2.0 / 2.0 / 1e9;
        assert!((gmacs_per_image - 4.09).abs() < 0.02, "{gmacs_per_image} G multiply-adds per image");
        assert!(fc.uncounted.is_empty(), "{:?}", fc.uncounted);
    }

    #[test]
    fn measured_shapes_agree_with_static_ones() {
        let model = conv_matmul_model();
        let dims = HashMap::from([("n".to_string(), 3)]);
        assert_eq!(count_measured(&model, &dims).unwrap(), count(&model.graph, &dims));
    }

    /// The exported BERT (4 layers, hidden 256, FFN 1024) against the closed form per sequence of length s:
    /// 4 layers × (Q, K, V, output projections 4·s·h² + scores and context 2·s²·h + FFN 2·s·h·i) + pooler h².
    /// Static inference cannot follow its embedding block, so this exercises the measured path.
    #[test]
    fn bert_matches_the_closed_form() {
        let dir = std::env::var_os("ZENRT_MODELS")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/zenrt/models")));
        let Some(path) = dir.map(|d| d.join("bert/model.onnx")).filter(|p| p.is_file()) else {
            eprintln!("SKIP: no exported bert");
            return;
        };
        let model = zenrt::onnx::load_model(&path).unwrap();
        let dims = HashMap::from([("batch".to_string(), 2), ("seq".to_string(), 32)]);
        let fc = count_measured(&model, &dims).unwrap();
        let (b, s, h, i) = (2u128, 32u128, 256u128, 1024u128);
        let macs = b * (4 * (4 * s * h * h + 2 * s * s * h + 2 * s * h * i) + h * h);
        assert_eq!(fc.total(), 2 * macs, "{:?}", fc.by_op);
        assert!(fc.uncounted.is_empty(), "{:?}", fc.uncounted);
    }

    #[test]
    fn parses_dims() {
        let d = parse_dims(&["batch=8".into(), " seq = 32".into()]).unwrap();
        assert_eq!((d["batch"], d["seq"]), (8, 32));
        assert!(parse_dims(&["batch".into()]).is_err());
        assert!(parse_dims(&["batch=x".into()]).is_err());
    }
}
