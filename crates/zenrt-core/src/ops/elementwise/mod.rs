//! Operator family: elementwise math, activations, comparison and logic (numpy broadcasting).

use crate::ops::Registry;

pub mod activation;
pub mod binary;
pub mod bitcast;
pub mod bitshift;
pub mod bitwise;
pub mod cast;
pub mod clip;
pub mod common;
pub mod compare;
pub mod fast_binary;
pub mod isnan_isinf;
pub mod logical;
pub mod modulo;
pub mod pow;
pub mod prelu;
pub mod swiglu;
pub mod unary;
pub mod variadic;
pub mod where_op;

use bitwise::Bits;
use compare::Cmp;
use logical::Logic;
use unary::UnaryKind as U;
use variadic::VarKind;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("Add", 1, binary::build_add);
    r.add("Sub", 1, binary::build_sub);
    r.add("Mul", 1, binary::build_mul);
    r.add("Div", 1, binary::build_div);

    // Unary math (no attributes; old `consumed_inputs` attributes are ignored).
    r.add("Abs", 1, |_| unary::build(U::Abs));
    r.add("Neg", 1, |_| unary::build(U::Neg));
    r.add("Floor", 1, |_| unary::build(U::Floor));
    r.add("Ceil", 1, |_| unary::build(U::Ceil));
    r.add("Round", 1, |_| unary::build(U::Round));
    r.add("Sign", 1, |_| unary::build(U::Sign));
    r.add("Sqrt", 1, |_| unary::build(U::Sqrt));
    r.add("Reciprocal", 1, |_| unary::build(U::Reciprocal));
    r.add("Exp", 1, |_| unary::build(U::Exp));
    r.add("Log", 1, |_| unary::build(U::Log));
    r.add("Sin", 1, |_| unary::build(U::Sin));
    r.add("Cos", 1, |_| unary::build(U::Cos));
    r.add("Tan", 1, |_| unary::build(U::Tan));
    r.add("Asin", 1, |_| unary::build(U::Asin));
    r.add("Acos", 1, |_| unary::build(U::Acos));
    r.add("Atan", 1, |_| unary::build(U::Atan));
    r.add("Sinh", 1, |_| unary::build(U::Sinh));
    r.add("Cosh", 1, |_| unary::build(U::Cosh));
    r.add("Asinh", 1, |_| unary::build(U::Asinh));
    r.add("Acosh", 1, |_| unary::build(U::Acosh));
    r.add("Atanh", 1, |_| unary::build(U::Atanh));
    r.add("Erf", 1, |_| unary::build(U::Erf));
    r.add("Not", 1, |_| unary::build(U::Not));
    r.add("IsNaN", 1, isnan_isinf::build_isnan);
    r.add("IsInf", 1, isnan_isinf::build_isinf);

    // Activations.
    r.add("Relu", 1, activation::build_relu);
    r.add("LeakyRelu", 1, activation::build_leaky_relu);
    r.add("Sigmoid", 1, activation::build_sigmoid);
    r.add("HardSigmoid", 1, activation::build_hard_sigmoid);
    r.add("HardSwish", 1, activation::build_hard_swish);
    r.add("Tanh", 1, activation::build_tanh);
    r.add("Elu", 1, activation::build_elu);
    r.add("Selu", 1, activation::build_selu);
    r.add("Celu", 1, activation::build_celu);
    r.add("Gelu", 1, activation::build_gelu);
    r.add("Mish", 1, activation::build_mish);
    r.add("Softplus", 1, activation::build_softplus);
    r.add("Softsign", 1, activation::build_softsign);
    r.add("Swish", 1, activation::build_swish);
    r.add("ThresholdedRelu", 1, activation::build_thresholded_relu);
    r.add("Shrink", 1, activation::build_shrink);
    r.add("PRelu", 1, prelu::build);
    r.add("Clip", 1, clip::build);
    r.add("SwiGLU", 1, swiglu::build);

    // Binary and variadic arithmetic.
    r.add("Pow", 1, pow::build);
    r.add("Mod", 1, modulo::build);
    r.add("Max", 1, |_| variadic::build(VarKind::Max));
    r.add("Min", 1, |_| variadic::build(VarKind::Min));
    r.add("Sum", 1, |_| variadic::build(VarKind::Sum));
    r.add("Mean", 1, |_| variadic::build(VarKind::Mean));

    // Comparison and logic.
    r.add("Equal", 1, |cx| compare::build(cx, Cmp::Equal));
    r.add("Greater", 1, |cx| compare::build(cx, Cmp::Greater));
    r.add("GreaterOrEqual", 1, |cx| compare::build(cx, Cmp::GreaterOrEqual));
    r.add("Less", 1, |cx| compare::build(cx, Cmp::Less));
    r.add("LessOrEqual", 1, |cx| compare::build(cx, Cmp::LessOrEqual));
    r.add("And", 1, |cx| logical::build(cx, Logic::And));
    r.add("Or", 1, |cx| logical::build(cx, Logic::Or));
    r.add("Xor", 1, |cx| logical::build(cx, Logic::Xor));
    r.add("BitShift", 1, bitshift::build);
    r.add("BitwiseAnd", 1, |_| bitwise::build(Bits::And));
    r.add("BitwiseOr", 1, |_| bitwise::build(Bits::Or));
    r.add("BitwiseXor", 1, |_| bitwise::build(Bits::Xor));
    r.add("BitwiseNot", 1, |_| bitwise::build(Bits::Not));
    r.add("Where", 1, where_op::build);

    // Type conversion.
    r.add("Cast", 1, cast::build_cast);
    r.add("CastLike", 1, cast::build_cast_like);
    r.add("BitCast", 1, bitcast::build);
}
