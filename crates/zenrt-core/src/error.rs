//! The one error type of zenrt. Every variant names what is at fault.

use crate::DType;
use std::path::PathBuf;

/// Result alias used throughout zenrt.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An operator that a model uses but zenrt does not implement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingOp {
    pub op_type: String,
    pub domain: String,
    pub opset: i64,
}

impl std::fmt::Display for MissingOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let domain = if self.domain.is_empty() { "ai.onnx" } else { &self.domain };
        write!(f, "{} (domain {}, opset {})", self.op_type, domain, self.opset)
    }
}

/// Everything that can go wrong, typed so callers can match on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{what} is not a valid ONNX protobuf: {msg}")]
    Decode { what: String, msg: String },

    #[error("invalid model: {0}")]
    InvalidModel(String),

    #[error("model uses {} unsupported operator(s): {}", .0.len(), .0.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", "))]
    UnsupportedOps(Vec<MissingOp>),

    #[error("tensor {name}: {msg}")]
    InvalidTensor { name: String, msg: String },

    #[error("external data for tensor {tensor}: {msg}")]
    ExternalData { tensor: String, msg: String },

    #[error("{what} would need {bytes} bytes, more than the limit of {limit} bytes")]
    TooLarge { what: String, bytes: u128, limit: u128 },

    #[error("graph has a cycle through node(s): {}", .0.join(", "))]
    Cycle(Vec<String>),

    #[error("node {node} reads value '{value}' that no node, input or initializer produces")]
    DanglingEdge { node: String, value: String },

    #[error("graph output '{0}' is never produced")]
    MissingOutput(String),

    #[error("unknown input '{name}'; the model's inputs are: {}", .expected.join(", "))]
    UnknownInput { name: String, expected: Vec<String> },

    #[error("missing input '{0}'")]
    MissingInput(String),

    #[error("input '{name}': {msg}")]
    BadInput { name: String, msg: String },

    #[error("attribute '{attr}': {msg}")]
    Attr { attr: String, msg: String },

    #[error("{op}: unsupported dtype {dtype}")]
    UnsupportedDType { op: String, dtype: DType },

    #[error("shape error: {0}")]
    Shape(String),

    #[error("{0}")]
    Invalid(String),

    #[error("not supported: {0}")]
    Unsupported(String),

    #[error("node '{node}' ({op}): {source}")]
    Node { node: String, op: String, source: Box<Error> },

    #[error("in {context}: {source}")]
    Context { context: String, source: Box<Error> },
}

impl Error {
    /// Wraps `self` with the node it happened in (unless already wrapped for a node).
    pub fn in_node(self, node: &str, op: &str) -> Error {
        match self {
            e @ Error::Node { .. } => e,
            e => Error::Node { node: node.to_string(), op: op.to_string(), source: Box::new(e) },
        }
    }

    /// Wraps `self` with free-form context (a file name, a subgraph...).
    pub fn context(self, context: impl Into<String>) -> Error {
        Error::Context { context: context.into(), source: Box::new(self) }
    }

    /// The innermost error, under node and context wrappers.
    pub fn root(&self) -> &Error {
        match self {
            Error::Node { source, .. } | Error::Context { source, .. } => source.root(),
            e => e,
        }
    }
}

/// Shorthand for `Err(Error::Invalid(format!(...)))`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::Error::Invalid(format!($($arg)*))) };
}

/// Shorthand for `if !cond { bail!(...) }`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => { if !($cond) { $crate::bail!($($arg)*) } };
}
