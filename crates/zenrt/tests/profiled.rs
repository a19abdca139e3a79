//! `Session::run_profiled` gives the same outputs as `run` and one timing per node of the optimized graph.

use zenrt::{Session, Tensor};

#[test]
fn profiled_run_matches_plain_run() {
    let m = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/tiny_cnn.onnx");
    let s = Session::from_file(&m).unwrap();
    let inputs = zenrt::npy::read_npz(m.with_file_name("tiny_cnn_inputs.npz")).unwrap();
    let plain = s.run(inputs.clone()).unwrap();
    let (outs, timings) = s.run_profiled(inputs).unwrap();
    assert_eq!(plain.names, outs.names);
    for i in 0..plain.len() {
        let (a, b): (&Tensor, &Tensor) = (plain.tensor(i).unwrap(), outs.tensor(i).unwrap());
        assert_eq!(a, b);
    }
    assert_eq!(timings.len(), s.plan().num_steps());
    let order: Vec<&str> = s.plan().nodes().map(|n| n.op_type.as_str()).collect();
    let got: Vec<&str> = timings.iter().map(|t| t.op_type.as_str()).collect();
    assert_eq!(order, got);
    assert!(timings.iter().all(|t| !t.node.is_empty()));
}
