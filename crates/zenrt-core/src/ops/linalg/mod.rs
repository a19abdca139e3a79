//! Operator family: linalg (matrix products, einsum, softmax-like normalizations, attention,
//! rotary embeddings, (de)quantization and integer matmuls, determinant).

use crate::ops::Registry;

pub mod attention;
pub mod common;
pub mod dequantize_linear;
pub mod det;
pub mod dynamic_quantize_linear;
pub mod einsum;
pub mod gemm;
pub mod linear_attention;
pub mod matmul;
pub mod matmul_integer;
pub mod qlinear_matmul;
pub mod quant_common;
pub mod quantize_linear;
pub mod rotary;
pub mod softmax;
pub mod swiglu;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("MatMul", 1, matmul::build);
    r.add("Gemm", 1, gemm::build);
    r.add("Einsum", 12, einsum::build);
    r.add("Softmax", 1, softmax::build_softmax);
    r.add("LogSoftmax", 1, softmax::build_log_softmax);
    r.add("Hardmax", 1, softmax::build_hardmax);
    r.add("Attention", 23, attention::build);
    r.add("RotaryEmbedding", 23, rotary::build);
    r.add("QuantizeLinear", 10, quantize_linear::build);
    r.add("DequantizeLinear", 10, dequantize_linear::build);
    r.add("DynamicQuantizeLinear", 11, dynamic_quantize_linear::build);
    r.add("MatMulInteger", 10, matmul_integer::build);
    r.add("QLinearMatMul", 10, qlinear_matmul::build);
    r.add("Det", 11, det::build);
    r.add("SwiGLU", 28, swiglu::build);
    r.add("LinearAttention", 27, linear_attention::build);
}
