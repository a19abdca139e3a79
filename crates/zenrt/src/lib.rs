//! zenrt: load an ONNX model, run it, read the outputs.
//!
//! ```
//! use zenrt::{Session, Tensor};
//! # fn main() -> zenrt::Result<()> {
//! # let model = zenrt::testing::tiny_add_model();
//! // `model` holds the bytes of an ONNX file computing y = x + x.
//! let session = Session::from_bytes(&model)?;
//! let x = Tensor::from_vec(vec![2], vec![1.0f32, 2.5])?;
//! let outputs = session.run(vec![("x", x)])?;
//! assert_eq!(outputs.get("y").unwrap().as_slice::<f32>()?, &[2.0, 5.0]);
//! # Ok(())
//! # }
//! ```

pub mod conformance;
pub mod npy;
mod session;
#[doc(hidden)]
pub mod testing;

pub use session::{passes_for, Device, Outputs, Precision, Session, SessionOptions, CPU_ONLY_PASSES};
/// Lower-level building blocks (IR, operators, planner) for tools and backends.
pub use zenrt_core as core;
pub use zenrt_core::passes::PassOptions;
pub use zenrt_core::{
    DType, Dim, Error, Graph, Model, Result, StepTiming, Tensor, TensorData, Value, ValueInfo, ValueKind,
};
/// The CUDA backend (device probing, executor, kernels), when built with the `cuda` feature.
#[cfg(feature = "cuda")]
pub use zenrt_cuda as cuda;
/// ONNX protobuf import/export.
pub use zenrt_onnx as onnx;
