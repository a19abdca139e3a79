//! Broken, hostile or misused models and data must give a typed error, never a panic.

use prost::Message;
use std::path::Path;
use zenrt::onnx::onnx_proto as pb;
use zenrt::{Error, Session, Tensor};

const F32: i32 = 1;

use zenrt::testing::vi;

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> pb::NodeProto {
    pb::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        op_type: Some(op.into()),
        name: Some(format!("{op}_{}", outputs.first().unwrap_or(&""))),
        ..Default::default()
    }
}

fn model(
    nodes: Vec<pb::NodeProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    inits: Vec<pb::TensorProto>,
) -> Vec<u8> {
    pb::ModelProto {
        ir_version: Some(8),
        opset_import: vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
        graph: Some(pb::GraphProto {
            name: Some("g".into()),
            node: nodes,
            input: inputs,
            output: outputs,
            initializer: inits,
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// y = x + w with w an initializer.
fn add_with_init(w: pb::TensorProto) -> Vec<u8> {
    model(vec![node("Add", &["x", "w"], &["y"])], vec![vi("x", F32, &[4])], vec![vi("y", F32, &[4])], vec![w])
}

fn f32_init(name: &str, dims: &[i64], raw_len: usize) -> pb::TensorProto {
    pb::TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(F32),
        raw_data: Some(vec![0u8; raw_len].into()),
        ..Default::default()
    }
}

fn load_err(bytes: &[u8]) -> Error {
    match Session::from_bytes(bytes) {
        Ok(_) => panic!("expected an error, the model loaded"),
        Err(e) => e,
    }
}

/// A session for y = x + b with x: float32[2, n], b: float32[2, n].
fn two_input_session() -> Session {
    let bytes = model(
        vec![node("Add", &["x", "b"], &["y"])],
        vec![vi("x", F32, &[2, -1]), vi("b", F32, &[2, -1])],
        vec![vi("y", F32, &[2, -1])],
        vec![],
    );
    Session::from_bytes(&bytes).unwrap()
}

fn ones(shape: &[usize]) -> Tensor {
    Tensor::full(zenrt::DType::F32, shape.to_vec(), 1.0).unwrap()
}

#[test]
fn truncated_protobuf() {
    let bytes = zenrt::testing::tiny_add_model();
    let e = load_err(&bytes[..bytes.len() - 3]);
    assert!(matches!(e.root(), Error::Decode { .. }), "{e}");
    // Every cut point: an error (Decode, or a decodable prefix that lacks parts), never a panic.
    for cut in 0..bytes.len() {
        if let Err(e) = Session::from_bytes(&bytes[..cut]) {
            assert!(
                matches!(
                    e.root(),
                    Error::Decode { .. }
                        | Error::InvalidModel(_)
                        | Error::MissingOutput(_)
                        | Error::DanglingEdge { .. }
                ),
                "cut {cut}: {e:?}"
            );
        }
    }
}

#[test]
fn random_garbage() {
    let mut state = 0x1234_5678_9abc_def0u64;
    for len in [1usize, 7, 64, 1000, 100_000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let e = load_err(&bytes);
        assert!(matches!(e.root(), Error::Decode { .. } | Error::InvalidModel(_)), "{len}: {e:?}");
    }
}

#[test]
fn raw_data_length_mismatch() {
    let e = load_err(&add_with_init(f32_init("w", &[4], 12)));
    assert!(matches!(e.root(), Error::InvalidTensor { name, .. } if name == "w"), "{e}");
}

#[test]
fn huge_or_overflowing_dims() {
    for dims in [vec![1i64 << 40, 1 << 40], vec![i64::MAX, i64::MAX, 4], vec![1 << 20, 1 << 20, 1 << 20]] {
        let e = load_err(&add_with_init(f32_init("w", &dims, 16)));
        assert!(matches!(e.root(), Error::TooLarge { .. }), "{dims:?}: {e}");
    }
}

#[test]
fn negative_dims() {
    let e = load_err(&add_with_init(f32_init("w", &[-1, 4], 16)));
    assert!(matches!(e.root(), Error::InvalidTensor { .. }), "{e}");
}

#[test]
fn cycle() {
    let bytes = model(
        vec![node("Add", &["x", "c"], &["b"]), node("Add", &["b", "x"], &["c"])],
        vec![vi("x", F32, &[4])],
        vec![vi("b", F32, &[4])],
        vec![],
    );
    let e = load_err(&bytes);
    assert!(matches!(e.root(), Error::Cycle(nodes) if nodes.len() == 2), "{e}");
}

#[test]
fn dangling_edge() {
    let bytes =
        model(vec![node("Add", &["x", "nobody"], &["y"])], vec![vi("x", F32, &[4])], vec![vi("y", F32, &[4])], vec![]);
    let e = load_err(&bytes);
    assert!(matches!(e.root(), Error::DanglingEdge { value, .. } if value == "nobody"), "{e}");
}

#[test]
fn output_never_produced() {
    let bytes =
        model(vec![node("Add", &["x", "x"], &["y"])], vec![vi("x", F32, &[4])], vec![vi("z", F32, &[4])], vec![]);
    let e = load_err(&bytes);
    assert!(matches!(e.root(), Error::MissingOutput(o) if o == "z"), "{e}");
}

#[test]
fn unknown_input_name() {
    let s = two_input_session();
    let e = s.run(vec![("x", ones(&[2, 3])), ("b", ones(&[2, 3])), ("nope", ones(&[2, 3]))]).unwrap_err();
    assert!(matches!(e.root(), Error::UnknownInput { name, expected } if name == "nope" && expected.len() == 2), "{e}");
}

#[test]
fn missing_input() {
    let e = two_input_session().run(vec![("x", ones(&[2, 3]))]).unwrap_err();
    assert!(matches!(e.root(), Error::MissingInput(n) if n == "b"), "{e}");
}

#[test]
fn wrong_dtype() {
    let x = Tensor::from_vec(vec![2, 1], vec![1i64, 2]).unwrap();
    let e = two_input_session().run(vec![("x", x), ("b", ones(&[2, 1]))]).unwrap_err();
    assert!(matches!(e.root(), Error::BadInput { name, .. } if name == "x"), "{e}");
}

#[test]
fn wrong_rank() {
    let e = two_input_session().run(vec![("x", ones(&[2])), ("b", ones(&[2, 1]))]).unwrap_err();
    assert!(matches!(e.root(), Error::BadInput { name, .. } if name == "x"), "{e}");
}

#[test]
fn wrong_fixed_dim_and_inconsistent_symbolic_dim() {
    let s = two_input_session();
    let e = s.run(vec![("x", ones(&[3, 1])), ("b", ones(&[2, 1]))]).unwrap_err();
    assert!(matches!(e.root(), Error::BadInput { name, .. } if name == "x"), "{e}");
    let e = s.run(vec![("x", ones(&[2, 1])), ("b", ones(&[2, 5]))]).unwrap_err();
    assert!(matches!(e.root(), Error::BadInput { name, .. } if name == "b"), "{e}");
}

#[test]
fn unknown_operators_are_all_listed() {
    let one = model(vec![node("NoSuchOp", &["x"], &["y"])], vec![vi("x", F32, &[4])], vec![vi("y", F32, &[4])], vec![]);
    let e = load_err(&one);
    assert!(matches!(e.root(), Error::UnsupportedOps(m) if m.len() == 1 && m[0].op_type == "NoSuchOp"), "{e}");
    let two = model(
        vec![node("NoSuchOp", &["x"], &["a"]), node("AlsoMissing", &["a"], &["b"]), node("NoSuchOp", &["b"], &["y"])],
        vec![vi("x", F32, &[4])],
        vec![vi("y", F32, &[4])],
        vec![],
    );
    let e = load_err(&two);
    match e.root() {
        Error::UnsupportedOps(m) => {
            let names: Vec<&str> = m.iter().map(|m| m.op_type.as_str()).collect();
            assert_eq!(names, ["NoSuchOp", "AlsoMissing"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("NoSuchOp") && e.to_string().contains("AlsoMissing"), "{e}");
}

fn external(location: &str, offset: Option<u64>, length: Option<u64>) -> pb::TensorProto {
    let mut kv = vec![pb::StringStringEntryProto { key: Some("location".into()), value: Some(location.into()) }];
    if let Some(o) = offset {
        kv.push(pb::StringStringEntryProto { key: Some("offset".into()), value: Some(o.to_string()) });
    }
    if let Some(l) = length {
        kv.push(pb::StringStringEntryProto { key: Some("length".into()), value: Some(l.to_string()) });
    }
    pb::TensorProto {
        name: Some("w".into()),
        dims: vec![4],
        data_type: Some(F32),
        data_location: Some(1),
        external_data: kv,
        ..Default::default()
    }
}

/// Writes the model into `dir` and opens it from there.
fn open_in(dir: &Path, w: pb::TensorProto) -> zenrt::Result<Session> {
    let p = dir.join("model.onnx");
    std::fs::write(&p, add_with_init(w)).unwrap();
    Session::from_file(&p)
}

fn external_err(dir: &Path, w: pb::TensorProto) -> Error {
    match open_in(dir, w) {
        Ok(_) => panic!("expected an external data error"),
        Err(e) => e,
    }
}

#[test]
fn external_data_good_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(dir.path().join("w.bin"), [vec![0u8; 8], data].concat()).unwrap();
    let s = open_in(dir.path(), external("w.bin", Some(8), Some(16))).unwrap();
    let y = s.run(vec![("x", ones(&[4]))]).unwrap();
    assert_eq!(y.get("y").unwrap().as_slice::<f32>().unwrap(), &[2.0, 3.0, 4.0, 5.0]);
}

#[test]
fn external_data_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let abs = outside.path().join("w.bin");
    std::fs::write(&abs, [0u8; 16]).unwrap();
    let e = external_err(dir.path(), external(abs.to_str().unwrap(), None, None));
    assert!(matches!(e.root(), Error::ExternalData { .. }), "{e}");
}

#[test]
fn external_data_dot_dot() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(root.path().join("w.bin"), [0u8; 16]).unwrap();
    for loc in ["../w.bin", "sub/../../w.bin"] {
        let e = external_err(&dir, external(loc, None, None));
        assert!(matches!(e.root(), Error::ExternalData { .. }), "{loc}: {e}");
    }
}

#[cfg(unix)]
#[test]
fn external_data_symlink_outside() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("w.bin"), [0u8; 16]).unwrap();
    std::os::unix::fs::symlink(outside.path().join("w.bin"), dir.path().join("w.bin")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("sub")).unwrap();
    for loc in ["w.bin", "sub/w.bin"] {
        let e = external_err(dir.path(), external(loc, None, None));
        assert!(matches!(e.root(), Error::ExternalData { .. }), "{loc}: {e}");
    }
}

#[test]
fn external_data_past_the_end() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.bin"), [0u8; 20]).unwrap();
    for (off, len) in [(Some(8), Some(16)), (Some(100), None), (Some(u64::MAX - 4), Some(16)), (None, Some(1 << 40))] {
        let e = external_err(dir.path(), external("w.bin", off, len));
        assert!(matches!(e.root(), Error::ExternalData { .. }), "{off:?} {len:?}: {e}");
    }
    std::fs::write(dir.path().join("short.bin"), [0u8; 8]).unwrap();
    let e = external_err(dir.path(), external("short.bin", None, None));
    assert!(matches!(e.root(), Error::ExternalData { .. }), "{e}");
    let e = external_err(dir.path(), external("missing.bin", None, None));
    assert!(matches!(e.root(), Error::ExternalData { .. } | Error::Io { .. }), "{e}");
}

#[test]
fn truncated_npy_and_npz() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tensor::from_vec(vec![3, 5], (0..15).map(|x| x as f32).collect()).unwrap();
    let npy = zenrt::npy::npy_to_bytes(&t).unwrap();
    let npz = zenrt::npy::npz_to_bytes(&[("x", &t)], false).unwrap();
    for cut in [1, npy.len() / 2, npy.len() - 1] {
        let p = dir.path().join("t.npy");
        std::fs::write(&p, &npy[..cut]).unwrap();
        let e = zenrt::npy::read_npy(&p).unwrap_err();
        assert!(matches!(e.root(), Error::InvalidTensor { .. }), "{e}");
    }
    for cut in [1, npz.len() / 2, npz.len() - 1] {
        let p = dir.path().join("t.npz");
        std::fs::write(&p, &npz[..cut]).unwrap();
        let e = zenrt::npy::read_npz(&p).unwrap_err();
        assert!(matches!(e.root(), Error::InvalidTensor { .. }), "{e}");
    }
    // An entry whose header claims more data than the entry holds.
    let mut short = zenrt::npy::npy_to_bytes(&t).unwrap();
    short.truncate(short.len() - 4);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("x.npy", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut w, &short).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let e = zenrt::npy::npz_from_bytes(&bytes, "short.npz").unwrap_err();
    assert!(
        matches!(e.root(), Error::InvalidTensor { name, .. } if name.contains("short.npz") && name.contains('x')),
        "{e}"
    );
}
