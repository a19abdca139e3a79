//! BitCast: reinterprets each element's (little endian) bits as another dtype of the same
//! size (`to` attribute). Bool reads/writes as one byte (nonzero → true).

use super::cast::dtype_of_code;
use super::common::infer_unary;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_all, DType, Elem, Error, Result, Tensor, ValueInfo};
use half::{bf16, f16};
use std::sync::Arc;

/// Raw bits of an element, zero-extended to 64 bits.
trait RawBits: Elem {
    fn to_raw(self) -> u64;
    fn from_raw(b: u64) -> Self;
}

macro_rules! raw_int {
    ($($t:ty => $u:ty),*) => {$(
        impl RawBits for $t {
            fn to_raw(self) -> u64 {
                self as $u as u64
            }
            fn from_raw(b: u64) -> Self {
                b as $u as $t
            }
        }
    )*};
}
raw_int!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, u8 => u8, u16 => u16, u32 => u32, u64 => u64);

macro_rules! raw_float {
    ($($t:ty => $u:ty),*) => {$(
        impl RawBits for $t {
            fn to_raw(self) -> u64 {
                self.to_bits() as u64
            }
            fn from_raw(b: u64) -> Self {
                <$t>::from_bits(b as $u)
            }
        }
    )*};
}
raw_float!(f32 => u32, f64 => u64, f16 => u16, bf16 => u16);

impl RawBits for bool {
    fn to_raw(self) -> u64 {
        self as u64
    }
    fn from_raw(b: u64) -> Self {
        b as u8 != 0
    }
}

fn bitcast<S: RawBits, D: RawBits>(x: &Tensor) -> Result<Tensor> {
    let v: Vec<D> = x.as_slice::<S>()?.iter().map(|s| D::from_raw(s.to_raw())).collect();
    Tensor::from_vec(x.shape().to_vec(), v)
}

#[derive(Debug)]
pub struct BitCast {
    pub to: DType,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let to = dtype_of_code(cx.req_int("to")?, "BitCast")?;
    Ok(Arc::new(BitCast { to }))
}

impl Op for BitCast {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "BitCast")?;
        if x.dtype().size() != self.to.size() {
            return Err(Error::Invalid(format!("BitCast: {} and {} have different bit widths", x.dtype(), self.to)));
        }
        let to = self.to;
        let out = dispatch_all!(x.dtype(), S => dispatch_all!(to, D => bitcast::<S, D>(x)))?;
        Ok(vec![out])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_unary(inputs, Some(self.to)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_bits() {
        let x = Tensor::from_vec(vec![2], vec![1.0f32, -2.0]).unwrap();
        let y = bitcast::<f32, i32>(&x).unwrap();
        assert_eq!(y.as_slice::<i32>().unwrap(), &[0x3f80_0000, 0xc000_0000u32 as i32]);
        let z = bitcast::<i32, f32>(&y).unwrap();
        assert_eq!(z, x);
        let b = Tensor::from_vec(vec![2], vec![-1i8, 5]).unwrap();
        assert_eq!(bitcast::<i8, u8>(&b).unwrap().as_slice::<u8>().unwrap(), &[255, 5]);
    }
}
