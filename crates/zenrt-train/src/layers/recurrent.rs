//! `LSTM` and `GRU` over `time × features` inputs: the ONNX LSTM/GRU ops (time-major layout 0,
//! which every runtime supports, between two transposes), one direction; the output is the last
//! hidden state, or every step's with `return_sequences`.

use super::{shape_err, EmitCx, Init, LayerImpl, ParamSpec};
use serde::{Deserialize, Serialize};
use zenrt_core::{Attr, Result};

fn rnn_shape(name: &str, units: usize, seq: bool, input: &[usize]) -> Result<Vec<usize>> {
    if input.len() != 2 || input.contains(&0) {
        return Err(shape_err(name, input, "expects time × features (rank 2)"));
    }
    if units == 0 {
        return Err(shape_err(name, input, "units must be positive"));
    }
    Ok(if seq { vec![input[0], units] } else { vec![units] })
}

fn rnn_params(gates: usize, units: usize, input: &[usize]) -> Vec<ParamSpec> {
    let f = input.get(1).copied().unwrap_or(0);
    let gh = gates * units;
    vec![
        ParamSpec::new("kernel", vec![1, gh, f], Init::GlorotUniform { fan_in: f, fan_out: gh }),
        ParamSpec::new("recurrent_kernel", vec![1, gh, units], Init::GlorotUniform { fan_in: units, fan_out: gh }),
        ParamSpec::new("bias", vec![1, 2 * gh], Init::Zeros),
    ]
}

fn rnn_emit(cx: &mut EmitCx, op: &str, units: usize, seq: bool, x: &str, extra: Vec<(&str, Attr)>) -> Result<String> {
    let (w, r, b) = (cx.param("kernel"), cx.param("recurrent_kernel"), cx.param("bias"));
    let y = cx.b.fresh(&format!("{}_y", op.to_lowercase()));
    let yh = cx.b.fresh(&format!("{}_yh", op.to_lowercase()));
    let mut attrs = vec![("hidden_size", Attr::Int(units as i64))];
    attrs.extend(extra);
    let xt = cx.b.op("Transpose", &[x], vec![("perm", Attr::Ints(vec![1, 0, 2]))])?;
    cx.b.node(op, &[&xt, &w, &r, &b], &[&y, &yh], attrs)?;
    // Y: [time, 1, batch, units]; Y_h: [1, batch, units].
    if seq {
        let yt = cx.b.op("Transpose", &[&y], vec![("perm", Attr::Ints(vec![2, 0, 1, 3]))])?;
        let s = cx.b.ints("rnn_shape", &[0, -1, units as i64]);
        cx.b.op("Reshape", &[&yt, &s], vec![])
    } else {
        let s = cx.b.ints("rnn_shape", &[-1, units as i64]);
        cx.b.op("Reshape", &[&yh, &s], vec![])
    }
}

/// Long short-term memory (ONNX gate order i, o, f, c; tanh/sigmoid).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lstm {
    pub units: usize,
    #[serde(default)]
    pub return_sequences: bool,
}

impl Lstm {
    pub fn new(units: usize) -> Lstm {
        Lstm { units, return_sequences: false }
    }
    pub fn return_sequences(mut self, yes: bool) -> Lstm {
        self.return_sequences = yes;
        self
    }
}

impl LayerImpl for Lstm {
    fn kind(&self) -> &'static str {
        "lstm"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        rnn_shape("LSTM", self.units, self.return_sequences, input)
    }
    fn params(&self, input: &[usize]) -> Vec<ParamSpec> {
        rnn_params(4, self.units, input)
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, _input: &[usize]) -> Result<String> {
        rnn_emit(cx, "LSTM", self.units, self.return_sequences, x, vec![])
    }
}

/// Gated recurrent unit (reset applied after the recurrent matmul, as Keras' default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gru {
    pub units: usize,
    #[serde(default)]
    pub return_sequences: bool,
}

impl Gru {
    pub fn new(units: usize) -> Gru {
        Gru { units, return_sequences: false }
    }
    pub fn return_sequences(mut self, yes: bool) -> Gru {
        self.return_sequences = yes;
        self
    }
}

impl LayerImpl for Gru {
    fn kind(&self) -> &'static str {
        "gru"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        rnn_shape("GRU", self.units, self.return_sequences, input)
    }
    fn params(&self, input: &[usize]) -> Vec<ParamSpec> {
        rnn_params(3, self.units, input)
    }
    fn emit(&self, cx: &mut EmitCx, x: &str, _input: &[usize]) -> Result<String> {
        rnn_emit(cx, "GRU", self.units, self.return_sequences, x, vec![("linear_before_reset", Attr::Int(1))])
    }
}
