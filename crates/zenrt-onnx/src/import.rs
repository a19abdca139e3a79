//! ModelProto → zenrt [`Model`]: graphs (and nested subgraphs), initializers, operators.

use crate::onnx_proto::{
    attribute_proto::AttributeType, type_proto, AttributeProto, GraphProto, ModelProto, SparseTensorProto, TypeProto,
    ValueInfoProto,
};
use crate::tensor::tensor_from_proto;
use prost::Message;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zenrt_core::{
    checked_numel, dispatch_all, Attr, Attrs, BuildCtx, DType, Dim, Elem, Error, Graph, MissingOp, Model, Node,
    Registry, Result, Tensor, ValueInfo, ValueKind,
};

/// Options for [`load_model`].
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Folder that external data paths are relative to (defaults to the model file's folder).
    pub base_dir: Option<PathBuf>,
}

/// Loads an ONNX model file.
pub fn load_model(path: &Path) -> Result<Model> {
    let bytes = crate::file::read_shared(path)?;
    let base = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
    // Decoding from `Bytes` makes every TensorProto's `raw_data` a slice of the file's bytes (no
    // copy); each is released as its tensor is built, and the mapping with the last one.
    import_proto(decode(bytes, &path.display().to_string())?, base).map_err(|e| match e {
        e @ (Error::Io { .. } | Error::Decode { .. }) => e,
        e => e.context(path.display().to_string()),
    })
}

/// Loads an ONNX model from bytes (external data is then only found when `opts.base_dir` is set).
pub fn load_model_bytes(bytes: &[u8], opts: &ImportOptions) -> Result<Model> {
    import(bytes, opts.base_dir.as_deref(), "model bytes")
}

fn import(bytes: &[u8], base: Option<&Path>, what: &str) -> Result<Model> {
    import_proto(decode(bytes, what)?, base)
}

fn decode(bytes: impl prost::bytes::Buf, what: &str) -> Result<ModelProto> {
    ModelProto::decode(bytes).map_err(|e| Error::Decode { what: what.to_string(), msg: e.to_string() })
}

fn import_proto(mut mp: ModelProto, base: Option<&Path>) -> Result<Model> {
    let ir_version = mp.ir_version.unwrap_or(0);
    let mut opsets: HashMap<String, i64> = HashMap::new();
    for o in &mp.opset_import {
        let d = o.domain.clone().unwrap_or_default();
        let d = if d == "ai.onnx" { String::new() } else { d };
        opsets.insert(d, o.version.unwrap_or(1));
    }
    if !opsets.contains_key("") {
        opsets.insert(String::new(), 1);
    }
    let mut gp = mp.graph.take().ok_or_else(|| Error::InvalidModel("model has no graph".into()))?;
    // The main graph's weights first, each TensorProto (and its bytes) dropped as soon as its
    // tensor is built: the import holds about one copy of the weights at its peak, not two.
    let mut weights = HashMap::new();
    for t in std::mem::take(&mut gp.initializer) {
        weights.insert(t.name.clone().unwrap_or_default(), Arc::new(tensor_from_proto(&t, base)?));
    }
    let functions = crate::functions::index(&mp.functions);
    let mut cx =
        ImportCx { opsets: &opsets, base, missing: vec![], registry: Registry::builtin(), functions, inlined: 0 };
    let mut graph = cx.graph(&gp)?;
    for (name, t) in weights {
        graph.initializers.entry(name).or_insert(t); // a sparse initializer of the same name wins, as before
    }
    if !cx.missing.is_empty() {
        return Err(Error::UnsupportedOps(cx.missing));
    }
    Ok(Model { graph, ir_version, opsets, producer: mp.producer_name.clone().unwrap_or_default() })
}

struct ImportCx<'a> {
    opsets: &'a HashMap<String, i64>,
    base: Option<&'a Path>,
    missing: Vec<MissingOp>,
    registry: &'static Registry,
    functions: crate::functions::Functions,
    inlined: usize,
}

/// dtype and shape from a TypeProto (non-tensor types give unknowns).
pub(crate) fn type_info(tp: Option<&TypeProto>) -> (Option<DType>, Option<Vec<Dim>>) {
    match tp.and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => {
            let dtype = t.elem_type.and_then(DType::from_onnx_code);
            let shape = t.shape.as_ref().map(|s| {
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(crate::onnx_proto::tensor_shape_proto::dimension::Value::DimValue(v)) if *v >= 0 => {
                            Dim::Known(*v as usize)
                        }
                        Some(crate::onnx_proto::tensor_shape_proto::dimension::Value::DimParam(p)) if !p.is_empty() => {
                            Dim::Sym(p.clone())
                        }
                        _ => Dim::Unknown,
                    })
                    .collect()
            });
            (dtype, shape)
        }
        _ => (None, None),
    }
}

/// Tensor, sequence or optional, and the element type info inside.
pub(crate) fn value_kind(tp: Option<&TypeProto>) -> (ValueKind, Option<&TypeProto>) {
    match tp.and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::SequenceType(s)) => (ValueKind::Sequence, s.elem_type.as_deref()),
        Some(type_proto::Value::OptionalType(o)) => match o.elem_type.as_deref().and_then(|e| e.value.as_ref()) {
            Some(type_proto::Value::SequenceType(s)) => (ValueKind::OptionalSequence, s.elem_type.as_deref()),
            _ => (ValueKind::Optional, o.elem_type.as_deref()),
        },
        _ => (ValueKind::Tensor, tp),
    }
}

fn value_info(v: &ValueInfoProto) -> ValueInfo {
    let (kind, elem) = value_kind(v.r#type.as_ref());
    let (dtype, shape) = type_info(elem);
    let mut vi = ValueInfo::new(v.name.clone().unwrap_or_default(), dtype, shape);
    vi.kind = kind;
    vi
}

/// Densifies a SparseTensorProto.
fn sparse_to_dense(sp: &SparseTensorProto, base: Option<&Path>) -> Result<(String, Tensor)> {
    let values = sp
        .values
        .as_ref()
        .ok_or_else(|| Error::InvalidTensor { name: "?".into(), msg: "sparse tensor without values".into() })?;
    let name = values.name.clone().unwrap_or_default();
    let err = |m: String| Error::InvalidTensor { name: name.clone(), msg: m };
    let vals = tensor_from_proto(values, base)?;
    let idx = match &sp.indices {
        Some(i) => tensor_from_proto(i, base)?.to_i64_vec(),
        None => vec![],
    };
    let mut shape = Vec::new();
    for &d in &sp.dims {
        shape.push(usize::try_from(d).map_err(|_| err(format!("bad dimension {d}")))?);
    }
    let n = checked_numel(&shape, vals.dtype(), &format!("sparse tensor '{name}'"))?;
    let nnz = vals.len();
    let rank = shape.len();
    let strides = zenrt_core::strides_of(&shape);
    let linear: Vec<usize> = if idx.len() == nnz {
        idx.iter().map(|&i| i as usize).collect()
    } else if idx.len() == nnz * rank {
        idx.chunks(rank.max(1)).map(|c| c.iter().zip(&strides).map(|(&i, &s)| i as usize * s).sum()).collect()
    } else {
        return Err(err(format!("{} indices for {nnz} values of rank {rank}", idx.len())));
    };
    if linear.iter().any(|&i| i >= n) {
        return Err(err("sparse index out of range".into()));
    }
    let dense = dispatch_all!(vals.dtype(), T => {
        let src = vals.as_slice::<T>()?;
        let mut out = vec![T::zero(); n];
        for (k, &i) in linear.iter().enumerate() {
            out[i] = src[k];
        }
        Tensor::from_vec(shape.clone(), out)
    })?;
    Ok((name, dense))
}

impl ImportCx<'_> {
    fn graph(&mut self, gp: &GraphProto) -> Result<Graph> {
        let mut g = Graph { name: gp.name.clone().unwrap_or_default(), ..Default::default() };
        for t in &gp.initializer {
            let name = t.name.clone().unwrap_or_default();
            let tensor = tensor_from_proto(t, self.base)?;
            g.initializers.insert(name, Arc::new(tensor));
        }
        for sp in &gp.sparse_initializer {
            let (name, t) = sparse_to_dense(sp, self.base)?;
            g.initializers.insert(name, Arc::new(t));
        }
        g.inputs = gp.input.iter().map(value_info).collect();
        g.outputs = gp.output.iter().map(value_info).collect();
        for v in &gp.value_info {
            let vi = value_info(v);
            g.value_info.insert(vi.name.clone(), vi);
        }
        let nodes = crate::functions::inline(&gp.node, &self.functions, &mut self.inlined, 0)?;
        for (i, np) in nodes.iter().enumerate() {
            let op_type = np.op_type.clone().unwrap_or_default();
            let domain = np.domain.clone().unwrap_or_default();
            let domain = if domain == "ai.onnx" { String::new() } else { domain };
            let name = np.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| {
                format!("{op_type}_{i}{}", np.output.first().map(|o| format!("({o})")).unwrap_or_default())
            });
            let mut attrs = Attrs::new();
            for a in &np.attribute {
                let aname = a.name.clone().unwrap_or_default();
                let v = self.attr(a).map_err(|e| e.in_node(&name, &op_type))?;
                if let Some(v) = v {
                    attrs.insert(aname, v);
                }
            }
            let opset = self.opsets.get(&domain).copied().unwrap_or(1);
            let Some(def) = self.registry.lookup(&domain, &op_type, opset) else {
                let m = MissingOp { op_type: op_type.clone(), domain: domain.clone(), opset };
                if !self.missing.contains(&m) {
                    self.missing.push(m);
                }
                continue;
            };
            let bcx = BuildCtx {
                node_name: &name,
                op_type: &op_type,
                attrs: &attrs,
                opset,
                n_inputs: np.input.len(),
                n_outputs: np.output.len(),
            };
            let op = (def.build)(&bcx).map_err(|e| e.in_node(&name, &op_type))?;
            g.nodes.push(Node {
                name,
                op_type,
                domain,
                inputs: np.input.clone(),
                outputs: np.output.clone(),
                attrs,
                op,
            });
        }
        Ok(g)
    }

    fn attr(&mut self, a: &AttributeProto) -> Result<Option<Attr>> {
        let aname = a.name.clone().unwrap_or_default();
        if a.ref_attr_name.is_some() {
            return Err(Error::Attr {
                attr: aname,
                msg: "attribute references are only valid inside functions".into(),
            });
        }
        let ty = match a.r#type.and_then(|t| AttributeType::try_from(t).ok()) {
            Some(t) if t != AttributeType::Undefined => t,
            // IR 1 files have no type: guess from the populated field.
            _ => {
                if a.f.is_some() {
                    AttributeType::Float
                } else if a.i.is_some() {
                    AttributeType::Int
                } else if a.s.is_some() {
                    AttributeType::String
                } else if a.t.is_some() {
                    AttributeType::Tensor
                } else if a.g.is_some() {
                    AttributeType::Graph
                } else if !a.floats.is_empty() {
                    AttributeType::Floats
                } else if !a.ints.is_empty() {
                    AttributeType::Ints
                } else if !a.strings.is_empty() {
                    AttributeType::Strings
                } else if !a.tensors.is_empty() {
                    AttributeType::Tensors
                } else if !a.graphs.is_empty() {
                    AttributeType::Graphs
                } else {
                    return Ok(Some(Attr::Ints(vec![])));
                }
            }
        };
        let missing = || Error::Attr { attr: aname.clone(), msg: format!("declared as {ty:?} but holds no value") };
        Ok(Some(match ty {
            AttributeType::Float => Attr::Float(a.f.ok_or_else(missing)?),
            AttributeType::Int => Attr::Int(a.i.ok_or_else(missing)?),
            AttributeType::String => Attr::String(a.s.clone().ok_or_else(missing)?),
            AttributeType::Tensor => Attr::Tensor(tensor_from_proto(a.t.as_ref().ok_or_else(missing)?, self.base)?),
            AttributeType::Graph => Attr::Graph(Arc::new(self.graph(a.g.as_ref().ok_or_else(missing)?)?)),
            AttributeType::SparseTensor => {
                Attr::Tensor(sparse_to_dense(a.sparse_tensor.as_ref().ok_or_else(missing)?, self.base)?.1)
            }
            AttributeType::TypeProto => Attr::Type(type_info(a.tp.as_ref()).0),
            AttributeType::Floats => Attr::Floats(a.floats.clone()),
            AttributeType::Ints => Attr::Ints(a.ints.clone()),
            AttributeType::Strings => Attr::Strings(a.strings.clone()),
            AttributeType::Tensors => {
                Attr::Tensors(a.tensors.iter().map(|t| tensor_from_proto(t, self.base)).collect::<Result<_>>()?)
            }
            AttributeType::Graphs => {
                Attr::Graphs(a.graphs.iter().map(|g| self.graph(g).map(Arc::new)).collect::<Result<_>>()?)
            }
            AttributeType::SparseTensors | AttributeType::TypeProtos | AttributeType::Undefined => {
                return Err(Error::Attr { attr: aname, msg: format!("attribute type {ty:?} is not supported") })
            }
        }))
    }
}
