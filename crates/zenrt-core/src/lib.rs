//! zenrt-core: the shared heart of zenrt.
//!
//! `Tensor`/`DType` (data), `Graph` (the one IR), `ops` (one file per operator: attributes,
//! shape rule, reference implementation), `plan` (execution order, lifetimes, executor).

pub mod dtype;
pub mod error;
pub mod graph;
pub mod infer;
pub mod memory;
pub mod ops;
pub mod passes;
pub mod plan;
pub mod simd;
pub mod tensor;
pub mod threads;
pub(crate) mod tuning;
pub mod value;

pub use dtype::{DType, Elem};
pub use error::{Error, MissingOp, Result};
pub use graph::{Attr, Attrs, Dim, Graph, Model, Node, ValueInfo, ValueKind};
pub use memory::{BufferPool, MemoryPlan};
pub use ops::{BuildCtx, ExecCtx, InArg, InferInput, Op, Registry};
pub use plan::{Backend, Plan, ReferenceBackend, StepTiming};
pub use tensor::{checked_numel, strides_of, Tensor, TensorData, MAX_TENSOR_BYTES};
pub use value::{MapKeys, MapSeq, StringTensor, Value};

/// Re-exported so the dispatch macros work in downstream crates.
pub use half;
