//! Operator family: rnn (LSTM, GRU, RNN).

use crate::ops::Registry;

pub mod cell;
pub mod common;
pub mod gru;
pub mod lstm;
pub mod panels;
pub mod simple_rnn;

#[cfg(test)]
mod tests;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("LSTM", 1, lstm::build);
    r.add("GRU", 1, gru::build);
    r.add("RNN", 1, simple_rnn::build);
}
