//! LabelEncoder (ai.onnx.ml): maps each element through a key -> value table, with a default
//! for missing keys. Numeric keys and values only (`keys_int64s`/`keys_floats`/`keys_tensor`,
//! `values_int64s`/`values_floats`/`values_tensor`); string tables are refused as unsupported
//! (zenrt has no string tensors). Float keys match by value, NaN matching NaN.

use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, DType, Error, Result, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// A hashable key: integers exactly, floats by bits (NaN and -0.0 normalized).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Int(i64),
    Float(u64),
}

fn float_key(v: f64) -> Key {
    if v.is_nan() {
        Key::Float(f64::NAN.to_bits())
    } else if v == 0.0 {
        Key::Float(0)
    } else {
        Key::Float(v.to_bits())
    }
}

fn keys_of(t: &Tensor) -> Vec<Key> {
    if t.dtype().is_float() {
        t.to_f64_vec().into_iter().map(float_key).collect()
    } else {
        t.to_i64_vec().into_iter().map(Key::Int).collect()
    }
}

#[derive(Debug)]
pub struct LabelEncoder {
    map: HashMap<Key, f64>,
    default: f64,
    out: DType,
    float_keys: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    for s in ["keys_strings", "values_strings", "classes_strings"] {
        if cx.has(s) {
            return Err(Error::Unsupported(format!("LabelEncoder with string tables ({s})")));
        }
    }
    let (keys, float_keys) = if let Some(k) = cx.ints_opt("keys_int64s")? {
        (k.into_iter().map(Key::Int).collect::<Vec<_>>(), false)
    } else if let Some(k) = cx.floats_opt("keys_floats")? {
        (k.into_iter().map(|v| float_key(v as f64)).collect(), true)
    } else if let Some(t) = cx.tensor_opt("keys_tensor")? {
        (keys_of(t), t.dtype().is_float())
    } else {
        bail!("LabelEncoder: no keys given");
    };
    let (values, out, default): (Vec<f64>, DType, f64) = if let Some(v) = cx.ints_opt("values_int64s")? {
        (v.into_iter().map(|x| x as f64).collect(), DType::I64, cx.int("default_int64", -1)? as f64)
    } else if let Some(v) = cx.floats_opt("values_floats")? {
        (v.into_iter().map(|x| x as f64).collect(), DType::F32, cx.float("default_float", -0.0)? as f64)
    } else if let Some(t) = cx.tensor_opt("values_tensor")? {
        let d = match cx.tensor_opt("default_tensor")? {
            Some(d) => d.to_f64_vec().first().copied().unwrap_or(0.0),
            None if t.dtype().is_float() => -0.0,
            None => -1.0,
        };
        (t.to_f64_vec(), t.dtype(), d)
    } else {
        bail!("LabelEncoder: no values given");
    };
    if keys.len() != values.len() {
        bail!("LabelEncoder: {} keys but {} values", keys.len(), values.len());
    }
    if out == DType::I64 && values.iter().any(|v| v.abs() > (1u64 << 53) as f64) {
        return Err(Error::Unsupported("LabelEncoder int64 values beyond 2^53".into()));
    }
    let map = keys.into_iter().zip(values).collect();
    Ok(Arc::new(LabelEncoder { map, default, out, float_keys }))
}

impl Op for LabelEncoder {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "LabelEncoder")?;
        if x.dtype().is_float() != self.float_keys {
            bail!("LabelEncoder: input type {} does not match the key type", x.dtype());
        }
        let vals: Vec<f64> =
            keys_of(x).into_iter().map(|k| self.map.get(&k).copied().unwrap_or(self.default)).collect();
        let t = if self.out == DType::I64 {
            Tensor::from_vec(x.shape().to_vec(), vals.into_iter().map(|v| v as i64).collect::<Vec<i64>>())?
        } else {
            Tensor::from_vec(x.shape().to_vec(), vals)?.cast(self.out)?
        };
        Ok(vec![t])
    }
}
