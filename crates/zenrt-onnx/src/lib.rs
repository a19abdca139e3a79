//! ONNX ⇄ zenrt graph. Files are untrusted input: every size, dim, offset and path is checked
//! before it is used, and problems come back as typed [`zenrt_core::Error`]s.

#[allow(clippy::all, missing_docs)]
#[rustfmt::skip]
pub mod onnx_proto;

pub mod data_proto;
mod export;
mod file;
mod functions;
mod import;
mod tensor;

pub use data_proto::read_value_file;
pub use export::{export_model, save_model, EXPORT_IR_VERSION};
pub use import::{load_model, load_model_bytes, ImportOptions};
pub use tensor::{read_tensor_file, tensor_from_proto, tensor_to_proto};
