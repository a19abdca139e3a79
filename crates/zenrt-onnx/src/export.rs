//! zenrt [`Model`] → ONNX `ModelProto` bytes: nodes with their attributes (subgraphs included),
//! initializers as raw little-endian tensors, inputs/outputs/value_info with symbolic dims. What
//! zenrt trains is written out this way, and [`crate::load_model_bytes`] reads it back.

use crate::onnx_proto::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::tensor::tensor_to_proto;
use prost::Message;
use zenrt_core::{Attr, Dim, Error, Graph, Model, Result, ValueInfo, ValueKind};

/// IR version written (ONNX 1.13+, opsets up to 18 and more).
pub const EXPORT_IR_VERSION: i64 = 8;

/// Serializes `model` as ONNX protobuf bytes.
pub fn export_model(model: &Model) -> Result<Vec<u8>> {
    let mut opsets: Vec<(&String, &i64)> = model.opsets.iter().collect();
    opsets.sort();
    let mp = ModelProto {
        ir_version: Some(if model.ir_version > 0 { model.ir_version } else { EXPORT_IR_VERSION }),
        opset_import: opsets
            .into_iter()
            .map(|(d, v)| OperatorSetIdProto { domain: Some(d.clone()), version: Some(*v) })
            .collect(),
        producer_name: Some(if model.producer.is_empty() { "zenrt".into() } else { model.producer.clone() }),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph_proto(&model.graph)?),
        ..Default::default()
    };
    Ok(mp.encode_to_vec())
}

/// Writes `model` to `path`.
pub fn save_model(model: &Model, path: &std::path::Path) -> Result<()> {
    let bytes = export_model(model)?;
    std::fs::write(path, bytes).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })
}

fn graph_proto(g: &Graph) -> Result<GraphProto> {
    let mut inits: Vec<_> = g.initializers.iter().collect();
    inits.sort_by(|a, b| a.0.cmp(b.0));
    let mut vis: Vec<&ValueInfo> = g.value_info.values().collect();
    vis.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(GraphProto {
        name: Some(g.name.clone()),
        node: g.nodes.iter().map(node_proto).collect::<Result<_>>()?,
        initializer: inits.into_iter().map(|(n, t)| tensor_to_proto(n, t)).collect(),
        input: g.real_inputs().map(value_info_proto).collect::<Result<_>>()?,
        output: g.outputs.iter().map(value_info_proto).collect::<Result<_>>()?,
        value_info: vis.into_iter().map(value_info_proto).collect::<Result<_>>()?,
        ..Default::default()
    })
}

fn node_proto(n: &zenrt_core::Node) -> Result<NodeProto> {
    let mut names: Vec<&String> = n.attrs.keys().collect();
    names.sort();
    let attribute = names
        .into_iter()
        .map(|k| attr_proto(k, &n.attrs[k]).map_err(|e| e.in_node(&n.name, &n.op_type)))
        .collect::<Result<_>>()?;
    Ok(NodeProto {
        name: Some(n.name.clone()),
        op_type: Some(n.op_type.clone()),
        domain: Some(n.domain.clone()),
        input: n.inputs.clone(),
        output: n.outputs.clone(),
        attribute,
        ..Default::default()
    })
}

fn attr_proto(name: &str, a: &Attr) -> Result<AttributeProto> {
    let mut p = AttributeProto { name: Some(name.to_string()), ..Default::default() };
    let ty = match a {
        Attr::Float(v) => {
            p.f = Some(*v);
            AttributeType::Float
        }
        Attr::Int(v) => {
            p.i = Some(*v);
            AttributeType::Int
        }
        Attr::String(v) => {
            p.s = Some(v.clone());
            AttributeType::String
        }
        Attr::Tensor(t) => {
            p.t = Some(tensor_to_proto("", t));
            AttributeType::Tensor
        }
        Attr::Graph(g) => {
            p.g = Some(graph_proto(g)?);
            AttributeType::Graph
        }
        Attr::Floats(v) => {
            p.floats = v.clone();
            AttributeType::Floats
        }
        Attr::Ints(v) => {
            p.ints = v.clone();
            AttributeType::Ints
        }
        Attr::Strings(v) => {
            p.strings = v.clone();
            AttributeType::Strings
        }
        Attr::Tensors(v) => {
            p.tensors = v.iter().map(|t| tensor_to_proto("", t)).collect();
            AttributeType::Tensors
        }
        Attr::Graphs(v) => {
            p.graphs = v.iter().map(|g| graph_proto(g)).collect::<Result<_>>()?;
            AttributeType::Graphs
        }
        Attr::Type(_) => {
            return Err(Error::Unsupported(format!("exporting type attribute '{name}'")));
        }
    };
    p.r#type = Some(ty as i32);
    Ok(p)
}

fn value_info_proto(v: &ValueInfo) -> Result<ValueInfoProto> {
    if v.kind != ValueKind::Tensor {
        return Err(Error::Unsupported(format!("exporting {:?} value '{}'", v.kind, v.name)));
    }
    use tensor_shape_proto::{dimension::Value, Dimension};
    let shape = v.shape.as_ref().map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| Dimension {
                value: match d {
                    Dim::Known(n) => Some(Value::DimValue(*n as i64)),
                    Dim::Sym(s) => Some(Value::DimParam(s.clone())),
                    Dim::Unknown => None,
                },
                ..Default::default()
            })
            .collect(),
    });
    Ok(ValueInfoProto {
        name: Some(v.name.clone()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: v.dtype.map(|d| d.onnx_code()),
                shape,
            })),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Importing an export of an imported model gives the same graph (names, ops, attributes, values).
    #[test]
    fn round_trip_of_a_hand_built_model() {
        let bytes = zenrt_testing_model();
        let m = crate::load_model_bytes(&bytes, &Default::default()).unwrap();
        let again = crate::load_model_bytes(&export_model(&m).unwrap(), &Default::default()).unwrap();
        assert_eq!(again.graph.nodes.len(), m.graph.nodes.len());
        for (a, b) in m.graph.nodes.iter().zip(&again.graph.nodes) {
            assert_eq!((&a.op_type, &a.inputs, &a.outputs), (&b.op_type, &b.inputs, &b.outputs));
            assert_eq!(format!("{:?}", sorted(&a.attrs)), format!("{:?}", sorted(&b.attrs)));
        }
        assert_eq!(again.graph.inputs, m.graph.inputs);
        assert_eq!(again.graph.outputs, m.graph.outputs);
        assert_eq!(again.graph.initializers, m.graph.initializers);
        assert_eq!(again.opsets, m.opsets);
    }

    fn sorted(a: &zenrt_core::Attrs) -> Vec<(String, String)> {
        let mut v: Vec<_> = a.iter().map(|(k, v)| (k.clone(), format!("{v:?}"))).collect();
        v.sort();
        v
    }

    /// y = Relu(Gemm(x, W, b; transB=1)) with x: float[n, 3], a symbolic batch dim.
    fn zenrt_testing_model() -> Vec<u8> {
        use crate::onnx_proto as pb;
        use tensor_shape_proto::{dimension::Value, Dimension};
        let vi = |name: &str, dims: Vec<Option<Value>>| pb::ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(pb::TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: Some(1),
                    shape: Some(pb::TensorShapeProto {
                        dim: dims.into_iter().map(|value| Dimension { value, ..Default::default() }).collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let w = zenrt_core::Tensor::from_vec(vec![2, 3], vec![1f32, -2.0, 3.0, 0.5, 0.25, -1.0]).unwrap();
        let b = zenrt_core::Tensor::from_vec(vec![2], vec![0.1f32, -0.2]).unwrap();
        let gemm = pb::NodeProto {
            input: vec!["x".into(), "W".into(), "b".into()],
            output: vec!["h".into()],
            op_type: Some("Gemm".into()),
            name: Some("gemm".into()),
            attribute: vec![pb::AttributeProto {
                name: Some("transB".into()),
                r#type: Some(AttributeType::Int as i32),
                i: Some(1),
                ..Default::default()
            }],
            ..Default::default()
        };
        let relu = pb::NodeProto {
            input: vec!["h".into()],
            output: vec!["y".into()],
            op_type: Some("Relu".into()),
            name: Some("relu".into()),
            ..Default::default()
        };
        pb::ModelProto {
            ir_version: Some(8),
            opset_import: vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
            graph: Some(pb::GraphProto {
                name: Some("g".into()),
                node: vec![gemm, relu],
                initializer: vec![tensor_to_proto("W", &w), tensor_to_proto("b", &b)],
                input: vec![vi("x", vec![Some(Value::DimParam("n".into())), Some(Value::DimValue(3))])],
                output: vec![vi("y", vec![Some(Value::DimParam("n".into())), None])],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }
}
