//! Element types and the [`Elem`] trait that lets reference kernels be written once, generically.

use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl DType {
    /// All supported dtypes.
    pub const ALL: [DType; 13] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// Lower-case name as used by numpy (`float32`, `int64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::Bool => "bool",
        }
    }

    /// True for floating point types.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    /// True for signed or unsigned integer types (not bool).
    pub fn is_int(self) -> bool {
        matches!(
            self,
            DType::I8 | DType::I16 | DType::I32 | DType::I64 | DType::U8 | DType::U16 | DType::U32 | DType::U64
        )
    }

    /// ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        match self {
            DType::F32 => 1,
            DType::U8 => 2,
            DType::I8 => 3,
            DType::U16 => 4,
            DType::I16 => 5,
            DType::I32 => 6,
            DType::I64 => 7,
            DType::Bool => 9,
            DType::F16 => 10,
            DType::F64 => 11,
            DType::U32 => 12,
            DType::U64 => 13,
            DType::BF16 => 16,
        }
    }

    /// Inverse of [`DType::onnx_code`]; `None` for types zenrt does not support (string, complex, fp8...).
    pub fn from_onnx_code(code: i32) -> Option<DType> {
        DType::ALL.iter().copied().find(|d| d.onnx_code() == code)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scalar element type that can live in a [`crate::Tensor`].
///
/// Reference kernels are written generically over `Elem` and instantiated for every dtype
/// with the `dispatch_*` macros, instead of matching on dtype in every op.
pub trait Elem: Copy + Send + Sync + Default + PartialEq + PartialOrd + fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    /// Exact conversion for integer values (floats truncate toward zero, saturating).
    fn to_i64(self) -> i64;
    fn from_i64(v: i64) -> Self;
    fn zero() -> Self;
    fn one() -> Self;
    fn slice(data: &crate::TensorData) -> Option<&[Self]>;
    fn slice_mut(data: &mut crate::TensorData) -> Option<&mut [Self]>;
    fn wrap(v: Vec<Self>) -> crate::TensorData;
    fn unwrap(data: crate::TensorData) -> Option<Vec<Self>>;
}

macro_rules! impl_elem {
    ($t:ty, $variant:ident, $to64:expr, $from64:expr, $toi:expr, $fromi:expr, $zero:expr, $one:expr) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$variant;
            #[inline]
            fn to_f64(self) -> f64 {
                ($to64)(self)
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                ($from64)(v)
            }
            #[inline]
            fn to_i64(self) -> i64 {
                ($toi)(self)
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                ($fromi)(v)
            }
            #[inline]
            fn zero() -> Self {
                $zero
            }
            #[inline]
            fn one() -> Self {
                $one
            }
            fn slice(data: &crate::TensorData) -> Option<&[Self]> {
                match data {
                    crate::TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(data: &mut crate::TensorData) -> Option<&mut [Self]> {
                match data {
                    crate::TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> crate::TensorData {
                crate::TensorData::$variant(v)
            }
            fn unwrap(data: crate::TensorData) -> Option<Vec<Self>> {
                match data {
                    crate::TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

macro_rules! impl_int {
    ($t:ty, $variant:ident) => {
        impl_elem!(
            $t,
            $variant,
            |x: $t| x as f64,
            |v: f64| v as $t,
            |x: $t| x as i64,
            |v: i64| v as $t,
            0 as $t,
            1 as $t
        );
    };
}

impl_elem!(f32, F32, |x: f32| x as f64, |v: f64| v as f32, |x: f32| x as i64, |v: i64| v as f32, 0.0, 1.0);
impl_elem!(f64, F64, |x: f64| x, |v: f64| v, |x: f64| x as i64, |v: i64| v as f64, 0.0, 1.0);
impl_elem!(
    f16,
    F16,
    |x: f16| x.to_f64(),
    f16::from_f64,
    |x: f16| x.to_f64() as i64,
    |v: i64| f16::from_f64(v as f64),
    f16::ZERO,
    f16::ONE
);
impl_elem!(
    bf16,
    BF16,
    |x: bf16| x.to_f64(),
    bf16::from_f64,
    |x: bf16| x.to_f64() as i64,
    |v: i64| bf16::from_f64(v as f64),
    bf16::ZERO,
    bf16::ONE
);
impl_int!(i8, I8);
impl_int!(i16, I16);
impl_int!(i32, I32);
impl_int!(i64, I64);
impl_int!(u8, U8);
impl_int!(u16, U16);
impl_int!(u32, U32);
impl_int!(u64, U64);
impl_elem!(bool, Bool, |x: bool| x as u8 as f64, |v: f64| v != 0.0, |x: bool| x as i64, |v: i64| v != 0, false, true);

/// Runs `$body` with `$T` bound to the Rust type of `$dt`, for every dtype.
/// Evaluates to `Result<_>`: the body must produce a `Result`.
#[macro_export]
macro_rules! dispatch_all {
    ($dt:expr, $T:ident => $body:expr) => {{
        use $crate::DType as __D;
        match $dt {
            __D::F32 => {
                type $T = f32;
                $body
            }
            __D::F64 => {
                type $T = f64;
                $body
            }
            __D::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            __D::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
            __D::I8 => {
                type $T = i8;
                $body
            }
            __D::I16 => {
                type $T = i16;
                $body
            }
            __D::I32 => {
                type $T = i32;
                $body
            }
            __D::I64 => {
                type $T = i64;
                $body
            }
            __D::U8 => {
                type $T = u8;
                $body
            }
            __D::U16 => {
                type $T = u16;
                $body
            }
            __D::U32 => {
                type $T = u32;
                $body
            }
            __D::U64 => {
                type $T = u64;
                $body
            }
            __D::Bool => {
                type $T = bool;
                $body
            }
        }
    }};
}

/// Like [`dispatch_all!`] but only for numeric dtypes; bool yields an unsupported-dtype error.
#[macro_export]
macro_rules! dispatch_numeric {
    ($dt:expr, $T:ident => $body:expr) => {{
        use $crate::DType as __D;
        match $dt {
            __D::F32 => {
                type $T = f32;
                $body
            }
            __D::F64 => {
                type $T = f64;
                $body
            }
            __D::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            __D::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
            __D::I8 => {
                type $T = i8;
                $body
            }
            __D::I16 => {
                type $T = i16;
                $body
            }
            __D::I32 => {
                type $T = i32;
                $body
            }
            __D::I64 => {
                type $T = i64;
                $body
            }
            __D::U8 => {
                type $T = u8;
                $body
            }
            __D::U16 => {
                type $T = u16;
                $body
            }
            __D::U32 => {
                type $T = u32;
                $body
            }
            __D::U64 => {
                type $T = u64;
                $body
            }
            other => Err($crate::Error::UnsupportedDType { op: String::new(), dtype: other }),
        }
    }};
}

/// Like [`dispatch_all!`] but only for floating point dtypes.
#[macro_export]
macro_rules! dispatch_float {
    ($dt:expr, $T:ident => $body:expr) => {{
        use $crate::DType as __D;
        match $dt {
            __D::F32 => {
                type $T = f32;
                $body
            }
            __D::F64 => {
                type $T = f64;
                $body
            }
            __D::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            __D::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
            other => Err($crate::Error::UnsupportedDType { op: String::new(), dtype: other }),
        }
    }};
}
