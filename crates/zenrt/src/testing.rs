//! Tiny hand-built models for doc tests and examples.

use prost::Message;
use zenrt_onnx::onnx_proto as pb;

/// A tensor ValueInfoProto; a negative dim becomes the symbolic dim "n".
pub fn vi(name: &str, elem: i32, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(if d < 0 { Value::DimParam("n".into()) } else { Value::DimValue(d) }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Bytes of an ONNX model `y = x + x` with `x: float32[n]`.
pub fn tiny_add_model() -> Vec<u8> {
    let node = pb::NodeProto {
        input: vec!["x".into(), "x".into()],
        output: vec!["y".into()],
        op_type: Some("Add".into()),
        name: Some("add".into()),
        ..Default::default()
    };
    let m = pb::ModelProto {
        ir_version: Some(8),
        opset_import: vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
        graph: Some(pb::GraphProto {
            name: Some("tiny".into()),
            node: vec![node],
            input: vec![vi("x", 1, &[-1])],
            output: vec![vi("y", 1, &[-1])],
            ..Default::default()
        }),
        ..Default::default()
    };
    m.encode_to_vec()
}

/// Whether GPU tests can run: true when CUDA device 0 opens; otherwise prints why on stderr
/// (`SKIP: ...`) so a test without a GPU passes with a visible reason.
#[cfg(feature = "cuda")]
pub fn cuda_or_skip() -> bool {
    match crate::cuda::probe(0) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIP: no usable CUDA device: {e}");
            false
        }
    }
}

/// The test-data folder named by the environment variable `var`, else `~/.cache/zenrt/<default>`;
/// `None` when it does not exist (the caller's tests then skip, as before `scripts/test.sh` ran).
pub fn data_dir(var: &str, default: &str) -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let dir = std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/zenrt").join(default)))?;
    dir.is_dir().then_some(dir)
}

/// Largest absolute difference between `got` and `want`, relative to the largest magnitude of
/// `want` (the tests' accuracy measure). A NaN difference counts as infinite, so a NaN in the
/// output always fails a bound.
pub fn rel_err(got: &crate::Tensor, want: &crate::Tensor) -> f64 {
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let scale = w.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
    let diff =
        g.iter().zip(&w).fold(0.0f64, |m, (a, b)| if (a - b).is_nan() { f64::INFINITY } else { m.max((a - b).abs()) });
    diff / scale
}
