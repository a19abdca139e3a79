//! `zenrt inspect MODEL [--shapes] [--plan [--dim NAME=VALUE ...]]`.
//!
//! Metadata, operator histogram and parameters come straight from the protobuf, so they are
//! printed even when zenrt cannot load the model (unsupported operators).

use crate::util::CliResult;
use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use zenrt::onnx::onnx_proto as pb;
use zenrt::{DType, Dim, Error, ValueInfo};

/// dtype/shape of a ValueInfoProto, in zenrt's terms.
fn value_info(v: &pb::ValueInfoProto) -> (ValueInfo, Option<String>) {
    use pb::tensor_shape_proto::dimension::Value;
    let name = v.name.clone().unwrap_or_default();
    match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => {
            let code = t.elem_type.unwrap_or(0);
            let dtype = DType::from_onnx_code(code);
            let shape = t.shape.as_ref().map(|s| {
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(Value::DimValue(n)) if *n >= 0 => Dim::Known(*n as usize),
                        Some(Value::DimParam(p)) if !p.is_empty() => Dim::Sym(p.clone()),
                        _ => Dim::Unknown,
                    })
                    .collect()
            });
            let note = if dtype.is_none() {
                Some(format!("element type code {code} ({})", onnx_type_name(code)))
            } else {
                None
            };
            (ValueInfo::new(name, dtype, shape), note)
        }
        Some(other) => {
            let kind = match other {
                pb::type_proto::Value::SequenceType(_) => "sequence",
                pb::type_proto::Value::MapType(_) => "map",
                pb::type_proto::Value::OptionalType(_) => "optional",
                pb::type_proto::Value::SparseTensorType(_) => "sparse tensor",
                _ => "non-tensor",
            };
            (ValueInfo::new(name, None, None), Some(format!("{kind} type")))
        }
        None => (ValueInfo::new(name, None, None), None),
    }
}

fn onnx_type_name(code: i32) -> &'static str {
    match code {
        0 => "undefined",
        1 => "float32",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "float64",
        12 => "uint32",
        13 => "uint64",
        14 => "complex64",
        15 => "complex128",
        16 => "bfloat16",
        17 => "float8e4m3fn",
        18 => "float8e4m3fnuz",
        19 => "float8e5m2",
        20 => "float8e5m2fnuz",
        21 => "uint4",
        22 => "int4",
        23 => "float4e2m1",
        24 => "float8e8m0",
        25 => "uint2",
        26 => "int2",
        _ => "unknown",
    }
}

/// Bytes an initializer's data takes (`bits` per element, or the string bytes).
fn tensor_bytes(t: &pb::TensorProto, numel: u128) -> u128 {
    let code = t.data_type.unwrap_or(0);
    let bits: u128 = match code {
        8 => return t.string_data.iter().map(|s| s.len() as u128).sum(),
        14 => 64,
        15 => 128,
        17..=20 | 24 => 8,
        21..=23 => 4,
        25 | 26 => 2,
        c => DType::from_onnx_code(c).map(|d| d.size() as u128 * 8).unwrap_or(0),
    };
    (numel * bits).div_ceil(8)
}

fn numel(dims: &[i64]) -> u128 {
    dims.iter().fold(1u128, |n, &d| n.saturating_mul(d.max(0) as u128))
}

#[derive(Default)]
struct Stats {
    ops: BTreeMap<String, usize>,
    nodes: usize,
    params: u128,
    bytes: u128,
    initializers: usize,
    subgraphs: usize,
}

fn walk(g: &pb::GraphProto, st: &mut Stats) {
    for t in &g.initializer {
        let n = numel(&t.dims);
        st.params += n;
        st.bytes += tensor_bytes(t, n);
        st.initializers += 1;
    }
    for sp in &g.sparse_initializer {
        if let Some(v) = &sp.values {
            let n = numel(&v.dims);
            st.params += n;
            st.bytes += tensor_bytes(v, n);
            st.initializers += 1;
        }
    }
    for n in &g.node {
        let dom = n.domain.clone().unwrap_or_default();
        let op = n.op_type.clone().unwrap_or_default();
        let key = if dom.is_empty() || dom == "ai.onnx" { op } else { format!("{dom}::{op}") };
        *st.ops.entry(key).or_default() += 1;
        st.nodes += 1;
        for a in &n.attribute {
            for sub in a.g.iter().chain(&a.graphs) {
                st.subgraphs += 1;
                walk(sub, st);
            }
        }
    }
}

fn human_bytes(b: u128) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", units[u])
    }
}

fn group_digits(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// Prints the static memory plan of the optimized graph; symbolic dims come from `--dim`.
fn print_memory_plan(path: &Path, dims: &[String]) -> CliResult<()> {
    let mut bound = std::collections::HashMap::new();
    for d in dims {
        let parsed = d.split_once('=').and_then(|(k, v)| Some((k.trim().to_string(), v.trim().parse::<usize>().ok()?)));
        match parsed {
            Some((k, v)) if !k.is_empty() => {
                bound.insert(k, v);
            }
            _ => return Err(Error::Invalid(format!("--dim expects NAME=VALUE (e.g. batch=1), got '{d}'")).into()),
        }
    }
    let session = zenrt::Session::from_file(path)?;
    let mut unbound = std::collections::BTreeSet::new();
    for vi in session.inputs() {
        for d in vi.shape.iter().flatten() {
            if let Dim::Sym(s) = d {
                if !bound.contains_key(s) {
                    unbound.insert(s.clone());
                }
            }
        }
    }
    let plan = session.memory_plan(&[], &bound)?;
    print!("{plan}");
    if !unbound.is_empty() {
        let list: Vec<String> = unbound.iter().map(|s| format!("--dim {s}=N")).collect();
        println!("note: unbound symbolic dims make values dynamic; bind them with {}", list.join(" "));
    }
    Ok(())
}

pub fn inspect(path: &Path, shapes: bool, device: &str, plan: Option<Vec<String>>) -> CliResult<ExitCode> {
    let device: zenrt::Device = device.parse()?;
    let bytes = std::fs::read(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let mp = pb::ModelProto::decode(bytes.as_slice())
        .map_err(|e| Error::Decode { what: path.display().to_string(), msg: e.to_string() })?;
    let g = mp.graph.clone().unwrap_or_default();

    println!("model:      {}", path.display());
    println!("ir_version: {}", mp.ir_version.unwrap_or(0));
    let producer =
        [mp.producer_name.clone().unwrap_or_default(), mp.producer_version.clone().unwrap_or_default()].join(" ");
    println!("producer:   {}", if producer.trim().is_empty() { "(none)" } else { producer.trim() });
    if !g.name.clone().unwrap_or_default().is_empty() {
        println!("graph:      {}", g.name.clone().unwrap_or_default());
    }
    let mut opsets: Vec<String> = mp
        .opset_import
        .iter()
        .map(|o| {
            let d = o.domain.clone().unwrap_or_default();
            format!("{}={}", if d.is_empty() { "ai.onnx" } else { &d }, o.version.unwrap_or(1))
        })
        .collect();
    opsets.sort();
    println!("opsets:     {}", if opsets.is_empty() { "(none)".to_string() } else { opsets.join(", ") });

    let init_names: std::collections::HashSet<&str> = g.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
    let print_vis = |title: &str, vis: Vec<&pb::ValueInfoProto>| {
        println!("{title} ({}):", vis.len());
        for v in vis {
            let (vi, note) = value_info(v);
            let note = note.map(|n| format!("  ({n})")).unwrap_or_default();
            println!("  {}: {}{note}", vi.name, vi.type_string());
        }
    };
    print_vis("inputs", g.input.iter().filter(|v| !init_names.contains(v.name.as_deref().unwrap_or(""))).collect());
    print_vis("outputs", g.output.iter().collect());

    let mut st = Stats::default();
    walk(&g, &mut st);
    println!(
        "parameters: {} in {} initializer(s), {} ({} bytes)",
        group_digits(st.params),
        st.initializers,
        human_bytes(st.bytes),
        st.bytes
    );
    let sub = if st.subgraphs > 0 { format!(", including {} subgraph(s)", st.subgraphs) } else { String::new() };
    println!("operators:  {} node(s), {} distinct{sub}", st.nodes, st.ops.len());
    let mut hist: Vec<(&String, &usize)> = st.ops.iter().collect();
    hist.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let w = hist.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (op, n) in hist {
        println!("  {op:<w$}  {n}");
    }

    match zenrt::onnx::load_model(path) {
        Ok(model) => {
            println!("zenrt:      all operators supported");
            if let zenrt::Device::Cuda(_) = device {
                device_report(model.clone(), device)?;
            }
            if shapes {
                let known = zenrt::core::infer::infer_graph(&model.graph);
                println!("inferred types ({} node(s)):", model.graph.nodes.len());
                for n in &model.graph.nodes {
                    let outs: Vec<String> = n
                        .outputs
                        .iter()
                        .filter(|o| !o.is_empty())
                        .map(|o| {
                            format!("{o}: {}", known.get(o).map(|v| v.type_string()).unwrap_or_else(|| "?[*]".into()))
                        })
                        .collect();
                    println!("  {} ({}) -> {}", n.name, n.op_type, outs.join(", "));
                }
            }
            if let Some(dims) = plan {
                print_memory_plan(path, &dims)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => match e.root() {
            Error::UnsupportedOps(missing) => {
                println!("zenrt:      {} unsupported operator(s):", missing.len());
                for m in missing {
                    println!("  {m}");
                }
                if shapes {
                    println!("(no inferred types: the model cannot be loaded)");
                }
                Ok(ExitCode::SUCCESS)
            }
            _ => Err(e.into()),
        },
    }
}

/// `--device cuda:N`: where each node of the optimized graph would run (needs no GPU).
#[cfg(feature = "cuda")]
fn device_report(model: zenrt::Model, device: zenrt::Device) -> CliResult<()> {
    use zenrt::cuda::Placement;
    // The graph a GPU session would run: the passes for this device (no GPU needed to compile it).
    let passes = zenrt::passes_for(device, &Default::default());
    // The optimized graph with its weights (a CPU plan releases the weights it packed).
    let mut graph = model.graph.clone();
    zenrt::core::passes::optimize(&mut graph, &passes)?;
    let session = zenrt::Session::from_model(model, &zenrt::SessionOptions { passes, ..Default::default() })?;
    let order: Vec<zenrt::core::Node> = session.plan().nodes().cloned().collect();
    let places = zenrt::cuda::placements(&graph, &order, false);
    let mut host: BTreeMap<String, usize> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut gpu = 0;
    for p in &places {
        match &p.placement {
            Placement::Gpu => gpu += 1,
            Placement::HostShape => *host.entry(p.op_type.clone()).or_default() += 1,
            Placement::CpuFallback(r) | Placement::Unsupported(r) => missing.push(r.clone()),
        }
    }
    let status = if zenrt::cuda::available(match device {
        zenrt::Device::Cuda(n) => n,
        _ => 0,
    }) {
        "found"
    } else {
        "not found on this machine (static check only)"
    };
    println!("{device}:     {} node(s) after passes; {gpu} on the GPU; device {status}", places.len());
    println!("  convolution: {}", zenrt::cuda::conv_path());
    if !host.is_empty() {
        let list: Vec<String> = host.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("  host shape arithmetic (inputs are constants/shapes): {}", list.join(", "));
    }
    if missing.is_empty() {
        println!("  every node has a CUDA kernel");
    } else {
        println!("  {} node(s) would not run on the GPU:", missing.len());
        for m in missing {
            println!("    {m}");
        }
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn device_report(_model: zenrt::Model, _device: zenrt::Device) -> CliResult<()> {
    Err(crate::util::CliError::Msg("this zenrt was built without the `cuda` feature".into()))
}
