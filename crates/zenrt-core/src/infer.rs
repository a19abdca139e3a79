//! Static type and shape inference over a graph, with symbolic dimensions.
//!
//! Each operator's `infer` rule is applied in topological order; what a rule cannot tell stays
//! unknown (run time shapes are always exact). Values whose shape is declared in the model
//! (`value_info`) keep the declared information where inference knows less.
//!
//! Dynamic-shape exports compute shapes at run time (`Shape → Gather → Concat → Reshape`). To see
//! through them, small integer vectors are tracked as *symbolic values* (each entry a known
//! integer or a symbolic dim) through Shape, Gather, Slice, Concat, (Un)Squeeze, Cast and
//! Identity, and used by Reshape, Expand and ConstantOfShape.

use crate::ops::InferInput;
use crate::{Dim, Graph, ValueInfo};
use std::collections::HashMap;

/// Infers dtype/shape of every value of `graph`; returns them by name (inputs, initializers,
/// node outputs).
pub fn infer_graph(graph: &Graph) -> HashMap<String, ValueInfo> {
    infer_graph_with(graph, true)
}

/// One entry of a symbolic integer vector.
#[derive(Clone, Debug, PartialEq)]
enum SymInt {
    Int(i64),
    Sym(String),
    Unknown,
}

impl SymInt {
    fn from_dim(d: &Dim) -> SymInt {
        match d {
            Dim::Known(n) => SymInt::Int(*n as i64),
            Dim::Sym(s) => SymInt::Sym(s.clone()),
            Dim::Unknown => SymInt::Unknown,
        }
    }
    fn to_dim(&self) -> Dim {
        match self {
            SymInt::Int(n) if *n >= 0 => Dim::Known(*n as usize),
            SymInt::Sym(s) => Dim::Sym(s.clone()),
            _ => Dim::Unknown,
        }
    }
}

/// Like [`infer_graph`]; with `use_declared == false` the model's own `value_info` and output
/// declarations are ignored, so only what the rules derive is reported.
pub fn infer_graph_with(graph: &Graph, use_declared: bool) -> HashMap<String, ValueInfo> {
    infer_all(graph, use_declared).0
}

/// Integer vectors whose every entry is statically known (shape arithmetic of dynamic-shape
/// exports that does not depend on a symbolic dim), by value name, with the value's inferred
/// type/shape. Used by the shape-folding pass.
pub fn static_int_values(graph: &Graph) -> HashMap<String, (Vec<i64>, ValueInfo)> {
    let (known, symvals) = infer_all(graph, false);
    symvals
        .into_iter()
        .filter_map(|(name, v)| {
            let ints: Vec<i64> =
                v.iter().map(|s| if let SymInt::Int(i) = s { Some(*i) } else { None }).collect::<Option<_>>()?;
            let info = known.get(&name)?.clone();
            Some((name, (ints, info)))
        })
        .collect()
}

fn infer_all(graph: &Graph, use_declared: bool) -> (HashMap<String, ValueInfo>, HashMap<String, Vec<SymInt>>) {
    let mut known: HashMap<String, ValueInfo> = HashMap::new();
    for (name, t) in &graph.initializers {
        known.insert(
            name.clone(),
            ValueInfo::new(name.clone(), Some(t.dtype()), Some(t.shape().iter().map(|&d| Dim::Known(d)).collect())),
        );
    }
    for vi in &graph.inputs {
        known.entry(vi.name.clone()).or_insert_with(|| vi.clone());
    }
    // Constant values produced by Constant nodes / initializers feed rules like Reshape.
    let mut consts: HashMap<String, crate::Tensor> = HashMap::new();
    for n in &graph.nodes {
        if n.op_type == "Constant" {
            if let Ok(mut v) = n.op.run(&NoSub, &[]) {
                if let (Some(o), Some(t)) = (n.outputs.first(), v.pop()) {
                    consts.insert(o.clone(), t);
                }
            }
        }
    }
    let mut symvals: HashMap<String, Vec<SymInt>> = HashMap::new();
    let const_vec = |t: &crate::Tensor| -> Option<Vec<SymInt>> {
        (t.dtype().is_int() && t.rank() <= 1 && t.len() <= 64)
            .then(|| t.to_i64_vec().into_iter().map(SymInt::Int).collect())
    };
    for (name, t) in graph.initializers.iter().map(|(k, v)| (k, v.as_ref())).chain(consts.iter()) {
        if let Some(v) = const_vec(t) {
            symvals.insert(name.clone(), v);
        }
    }
    for n in &graph.nodes {
        let infos: Vec<Option<ValueInfo>> = n.inputs.iter().map(|i| known.get(i).cloned()).collect();
        let ins: Vec<InferInput> = n
            .inputs
            .iter()
            .zip(&infos)
            .map(|(name, info)| InferInput {
                info: info.as_ref(),
                value: graph.initializers.get(name).map(|t| t.as_ref()).or_else(|| consts.get(name)),
            })
            .collect();
        let mut outs = n.op.infer(&ins).unwrap_or_default();
        if let Some(v) = sym_value(n, &infos, &ins, &symvals) {
            if let Some(o) = n.outputs.first() {
                symvals.insert(o.clone(), v);
            }
        }
        if outs.first().is_none_or(|o| o.shape.is_none()) {
            if let Some(shape) = sym_shape(n, &infos, &symvals) {
                let dtype = outs.first().and_then(|o| o.dtype);
                let dtype = dtype.or_else(|| {
                    if n.op_type == "ConstantOfShape" {
                        None
                    } else {
                        infos.first().cloned().flatten().and_then(|i| i.dtype)
                    }
                });
                if outs.is_empty() {
                    outs.push(ValueInfo::default());
                }
                outs[0].shape = Some(shape);
                outs[0].dtype = outs[0].dtype.or(dtype);
            }
        }
        // An op whose rule could not tell its output's type (data-dependent pads, sizes, ...) still
        // keeps its data input's element type: without this, a model whose preprocessing ends in
        // such an op had every value downstream untyped (no fusion saw a float tensor).
        let standard = n.domain.is_empty() || n.domain == "ai.onnx";
        if standard && keeps_input_dtype(&n.op_type) {
            if let Some(dtype) = infos.first().cloned().flatten().and_then(|i| i.dtype) {
                // Split's outputs all share the input's type; the others' first output does.
                let typed = if n.op_type == "Split" { n.outputs.len() } else { 1 };
                if outs.len() < typed {
                    outs.resize(typed, ValueInfo::default());
                }
                for o in &mut outs[..typed] {
                    o.dtype = o.dtype.or(Some(dtype));
                }
            }
        }
        for (k, o) in n.outputs.iter().enumerate() {
            if o.is_empty() {
                continue;
            }
            let mut vi = outs.get(k).cloned().unwrap_or_default();
            vi.name = o.clone();
            let declared = graph.value_info.get(o).or_else(|| graph.outputs.iter().find(|x| &x.name == o));
            if let Some(decl) = declared.filter(|_| use_declared) {
                if vi.dtype.is_none() {
                    vi.dtype = decl.dtype;
                }
                if vi.shape.is_none() {
                    vi.shape = decl.shape.clone();
                }
            }
            known.insert(o.clone(), vi);
        }
    }
    (known, symvals)
}

/// Standard (ai.onnx) ops whose first output has the element type of their first input, whatever
/// their other inputs hold (the ONNX schemas bind both to one type variable `T`).
fn keeps_input_dtype(op: &str) -> bool {
    matches!(
        op,
        "Abs"
            | "Acos"
            | "Acosh"
            | "Add"
            | "Asin"
            | "Asinh"
            | "Atan"
            | "Atanh"
            | "AveragePool"
            | "BatchNormalization"
            | "Ceil"
            | "Celu"
            | "Clip"
            | "Concat"
            | "Conv"
            | "ConvTranspose"
            | "Cos"
            | "Cosh"
            | "CumSum"
            | "DepthToSpace"
            | "Div"
            | "Dropout"
            | "Elu"
            | "Erf"
            | "Exp"
            | "Expand"
            | "Flatten"
            | "Floor"
            | "Gather"
            | "GatherElements"
            | "GatherND"
            | "Gelu"
            | "Gemm"
            | "GlobalAveragePool"
            | "GlobalMaxPool"
            | "GroupNormalization"
            | "HardSigmoid"
            | "HardSwish"
            | "Identity"
            | "InstanceNormalization"
            | "LayerNormalization"
            | "LeakyRelu"
            | "Log"
            | "LogSoftmax"
            | "LpNormalization"
            | "LRN"
            | "MatMul"
            | "Max"
            | "MaxPool"
            | "Mean"
            | "Min"
            | "Mish"
            | "Mul"
            | "Neg"
            | "Pad"
            | "Pow"
            | "PRelu"
            | "Reciprocal"
            | "ReduceL1"
            | "ReduceL2"
            | "ReduceLogSumExp"
            | "ReduceMax"
            | "ReduceMean"
            | "ReduceMin"
            | "ReduceProd"
            | "ReduceSum"
            | "ReduceSumSquare"
            | "Relu"
            | "Reshape"
            | "Resize"
            | "RoiAlign"
            | "Round"
            | "ScatterElements"
            | "ScatterND"
            | "Selu"
            | "Shrink"
            | "Sigmoid"
            | "Sign"
            | "Sin"
            | "Sinh"
            | "Slice"
            | "Softmax"
            | "Softplus"
            | "Softsign"
            | "SpaceToDepth"
            | "Split"
            | "Sqrt"
            | "Squeeze"
            | "Sub"
            | "Sum"
            | "Tan"
            | "Tanh"
            | "ThresholdedRelu"
            | "Tile"
            | "Transpose"
            | "Trilu"
            | "Unsqueeze"
            | "Upsample"
    )
}

/// The symbolic integer vector a node produces, if it is one of the shape-arithmetic ops.
fn sym_value(
    n: &crate::Node,
    infos: &[Option<ValueInfo>],
    ins: &[InferInput],
    symvals: &HashMap<String, Vec<SymInt>>,
) -> Option<Vec<SymInt>> {
    let arg = |i: usize| n.inputs.get(i).and_then(|name| symvals.get(name));
    let ints = |i: usize| ins.get(i).and_then(|x| x.value).map(|t| t.to_i64_vec());
    let int_attr = |name: &str| match n.attrs.get(name) {
        Some(crate::Attr::Int(v)) => Some(*v),
        _ => None,
    };
    match n.op_type.as_str() {
        "Shape" => {
            let shape = infos.first()?.as_ref()?.shape.as_ref()?;
            let r = shape.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let start = clamp(int_attr("start").unwrap_or(0));
            let end = clamp(int_attr("end").unwrap_or(r));
            Some(shape.get(start..end.max(start))?.iter().map(SymInt::from_dim).collect())
        }
        "Identity" | "Cast" | "Squeeze" | "Unsqueeze" => arg(0).cloned(),
        "Gather" => {
            let data = arg(0)?;
            if int_attr("axis").unwrap_or(0) != 0 {
                return None;
            }
            let idx = ints(1)?;
            idx.iter()
                .map(|&i| {
                    let i = if i < 0 { i + data.len() as i64 } else { i };
                    data.get(usize::try_from(i).ok()?).cloned()
                })
                .collect()
        }
        "Concat" => {
            let mut out = Vec::new();
            for i in 0..n.inputs.len() {
                out.extend(arg(i)?.iter().cloned());
            }
            Some(out)
        }
        "Slice" => {
            let data = arg(0)?;
            let len = data.len() as i64;
            let (starts, ends) = (ints(1)?, ints(2)?);
            if starts.len() != 1 || ends.len() != 1 || ints(4).is_some_and(|s| s != [1]) {
                return None;
            }
            let clamp = |v: i64| (if v < 0 { v + len } else { v }).clamp(0, len) as usize;
            let (a, b) = (clamp(starts[0]), clamp(ends[0]));
            Some(data.get(a..b.max(a))?.to_vec())
        }
        // Elementwise shape arithmetic as exported by PyTorch for `expand`/`view`:
        // Where(Equal(shape, -1), ones, shape), Mul by constants, ...
        "Equal" | "Mul" | "Add" | "Sub" | "Where" => {
            let k = n.inputs.len();
            let args: Vec<&Vec<SymInt>> = (0..k).map(arg).collect::<Option<_>>()?;
            let len = args.iter().map(|a| a.len()).max()?;
            if args.iter().any(|a| a.len() != len && a.len() != 1) {
                return None;
            }
            let at = |a: &Vec<SymInt>, i: usize| a[if a.len() == 1 { 0 } else { i }].clone();
            (0..len)
                .map(|i| {
                    let (x, y) = (at(args[0], i), at(args[1], i));
                    Some(match (n.op_type.as_str(), &x, &y) {
                        ("Equal", SymInt::Int(a), SymInt::Int(b)) => SymInt::Int((a == b) as i64),
                        // Dims are never negative: a symbolic dim differs from any negative constant.
                        ("Equal", SymInt::Sym(_), SymInt::Int(b)) | ("Equal", SymInt::Int(b), SymInt::Sym(_))
                            if *b < 0 =>
                        {
                            SymInt::Int(0)
                        }
                        ("Mul", SymInt::Int(a), SymInt::Int(b)) => SymInt::Int(a.wrapping_mul(*b)),
                        ("Mul", v, SymInt::Int(1)) | ("Mul", SymInt::Int(1), v) => v.clone(),
                        ("Add", SymInt::Int(a), SymInt::Int(b)) => SymInt::Int(a.wrapping_add(*b)),
                        ("Add", v, SymInt::Int(0)) | ("Add", SymInt::Int(0), v) => v.clone(),
                        ("Sub", SymInt::Int(a), SymInt::Int(b)) => SymInt::Int(a.wrapping_sub(*b)),
                        ("Sub", v, SymInt::Int(0)) => v.clone(),
                        ("Where", SymInt::Int(c), _) => at(args.get(if *c != 0 { 1 } else { 2 })?, i),
                        _ => SymInt::Unknown,
                    })
                })
                .collect()
        }
        "ConstantOfShape" => {
            // A small constant-filled vector (e.g. ones of the shape's length).
            let len = match arg(0)?.as_slice() {
                [SymInt::Int(l)] if (0..=64).contains(l) => *l as usize,
                _ => return None,
            };
            let fill = match n.attrs.get("value") {
                Some(crate::Attr::Tensor(t)) if t.dtype().is_int() && t.len() == 1 => t.to_i64_vec()[0],
                None => 0,
                _ => return None,
            };
            Some(vec![SymInt::Int(fill); len])
        }
        _ => None,
    }
}

/// Output shape of Reshape / Expand / ConstantOfShape from a symbolic shape input.
fn sym_shape(n: &crate::Node, infos: &[Option<ValueInfo>], symvals: &HashMap<String, Vec<SymInt>>) -> Option<Vec<Dim>> {
    let shape_arg = |i: usize| n.inputs.get(i).and_then(|name| symvals.get(name));
    match n.op_type.as_str() {
        "ConstantOfShape" => Some(shape_arg(0)?.iter().map(SymInt::to_dim).collect()),
        "Expand" => {
            let input = infos.first()?.as_ref()?.shape.as_ref()?;
            let target: Vec<Dim> = match shape_arg(1) {
                Some(v) => v.iter().map(SymInt::to_dim).collect(),
                // Unknown values but known length: the rank is still known, and every input
                // dim other than 1 survives the broadcast.
                None => match infos.get(1)?.as_ref()?.shape.as_deref()? {
                    [Dim::Known(len)] => vec![Dim::Known(1); *len],
                    _ => return None,
                },
            };
            if shape_arg(1).is_none() {
                let rank = input.len().max(target.len());
                let off = rank - input.len();
                return Some(
                    (0..rank)
                        .map(|i| match i.checked_sub(off).map(|j| &input[j]) {
                            Some(Dim::Known(1)) | None => Dim::Unknown,
                            Some(d) => d.clone(),
                        })
                        .collect(),
                );
            }
            Some(crate::ops::util::broadcast_dims(input, &target))
        }
        "Reshape" => {
            let input = infos.first()?.as_ref()?.shape.as_ref()?;
            let spec = shape_arg(1)?;
            let allowzero = matches!(n.attrs.get("allowzero"), Some(crate::Attr::Int(1)));
            let mut out: Vec<Dim> = spec
                .iter()
                .enumerate()
                .map(|(i, s)| match s {
                    SymInt::Int(0) if !allowzero => input.get(i).cloned().unwrap_or(Dim::Unknown),
                    other => other.to_dim(),
                })
                .collect();
            if let Some(pos) = spec.iter().position(|s| *s == SymInt::Int(-1)) {
                out[pos] = infer_minus_one(input, &out, pos);
            }
            Some(out)
        }
        _ => None,
    }
}

/// Resolves Reshape's -1 entry by cancelling the dims common to input and output.
fn infer_minus_one(input: &[Dim], out: &[Dim], pos: usize) -> Dim {
    let mut syms_in: Vec<&str> = vec![];
    let mut known_in: usize = 1;
    for d in input {
        match d {
            Dim::Known(k) => known_in *= k,
            Dim::Sym(s) => syms_in.push(s),
            Dim::Unknown => return Dim::Unknown,
        }
    }
    let mut known_out: usize = 1;
    for (i, d) in out.iter().enumerate() {
        if i == pos {
            continue;
        }
        match d {
            Dim::Known(k) => known_out *= k,
            Dim::Sym(s) => match syms_in.iter().position(|x| x == s) {
                Some(p) => {
                    syms_in.remove(p);
                }
                None => return Dim::Unknown,
            },
            Dim::Unknown => return Dim::Unknown,
        }
    }
    if known_out == 0 || !known_in.is_multiple_of(known_out) {
        return Dim::Unknown;
    }
    match (syms_in.as_slice(), known_in / known_out) {
        ([], k) => Dim::Known(k),
        ([s], 1) => Dim::Sym(s.to_string()),
        _ => Dim::Unknown,
    }
}

struct NoSub;
impl crate::ExecCtx for NoSub {
    fn run_subgraph_values(&self, _: &std::sync::Arc<Graph>, _: Vec<crate::Value>) -> crate::Result<Vec<crate::Value>> {
        Err(crate::Error::Unsupported("subgraphs during inference".into()))
    }
}
