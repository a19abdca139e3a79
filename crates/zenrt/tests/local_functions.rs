//! Model-local functions are inlined at import: attribute references resolve to the caller's
//! values (or the function's defaults), and nested calls expand too.

use prost::Message;
use zenrt::onnx::onnx_proto as pb;
use zenrt::{Session, Tensor};

fn node(op: &str, domain: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

fn vi(name: &str) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor { elem_type: Some(1), shape: None })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn nested_local_functions_are_inlined() {
    // Double(x) = Add(x, x); Quad(x) = Double(Double(x)) ; graph: y = Quad(x) - x
    let double = pb::FunctionProto {
        name: Some("Double".into()),
        domain: Some("local".into()),
        input: vec!["a".into()],
        output: vec!["b".into()],
        node: vec![node("Add", "", &["a", "a"], &["b"], vec![])],
        opset_import: vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
        ..Default::default()
    };
    let quad = pb::FunctionProto {
        name: Some("Quad".into()),
        domain: Some("local".into()),
        input: vec!["a".into()],
        output: vec!["b".into()],
        node: vec![node("Double", "local", &["a"], &["t"], vec![]), node("Double", "local", &["t"], &["b"], vec![])],
        opset_import: vec![pb::OperatorSetIdProto { domain: Some("local".into()), version: Some(1) }],
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: Some(10),
        opset_import: vec![
            pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) },
            pb::OperatorSetIdProto { domain: Some("local".into()), version: Some(1) },
        ],
        functions: vec![double, quad],
        graph: Some(pb::GraphProto {
            name: Some("g".into()),
            node: vec![node("Quad", "local", &["x"], &["q"], vec![]), node("Sub", "", &["q", "x"], &["y"], vec![])],
            input: vec![vi("x")],
            output: vec![vi("y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let s = Session::from_bytes(&model.encode_to_vec()).unwrap();
    let x = Tensor::from_vec(vec![3], vec![1.0f32, -2.0, 0.5]).unwrap();
    let y = s.run(vec![("x", x)]).unwrap();
    assert_eq!(y.get("y").unwrap().as_slice::<f32>().unwrap(), &[3.0, -6.0, 1.5]);
}
