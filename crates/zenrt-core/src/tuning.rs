//! Tuning knobs read once from the environment: on/off switches ([`Switch`]) and numbers
//! ([`EnvNum`]) that kernels consult to pick a path or a block size. They exist for side-by-side
//! comparisons (`ZENRT_... = 0` restores the previous path in the same binary, so an A/B needs no
//! rebuild) and for tests, which set switches directly; docs/kernels.md names each one where it
//! was measured. Each is read at its first use and cached, so plan-time and run-time choices
//! agree.
//!
//! Older knobs that take words (`ZENRT_WINOGRAD=off`, `ZENRT_POINTWISE=gemm`, ...) keep their
//! own parsing next to their kernels.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::OnceLock;

/// An option turned on (`1`) or off (`0`) by its environment variable; anything else, or no
/// variable, leaves the default.
pub(crate) struct Switch {
    var: &'static str,
    default: bool,
    /// 0 off, 1 on, 2 not read yet.
    state: AtomicU8,
}

impl Switch {
    pub(crate) const fn new(var: &'static str, default: bool) -> Switch {
        Switch { var, default, state: AtomicU8::new(2) }
    }

    pub(crate) fn on(&self) -> bool {
        match self.state.load(Relaxed) {
            2 => {
                let on = match std::env::var(self.var).as_deref() {
                    Ok("1") => true,
                    Ok("0") => false,
                    _ => self.default,
                };
                self.state.store(on as u8, Relaxed);
                on
            }
            v => v == 1,
        }
    }

    #[cfg(test)]
    pub(crate) fn set(&self, on: bool) {
        self.state.store(on as u8, Relaxed);
    }
}

/// A non-negative number from its environment variable (`None` when unset or not a number).
pub(crate) struct EnvNum {
    var: &'static str,
    value: OnceLock<Option<usize>>,
}

impl EnvNum {
    pub(crate) const fn new(var: &'static str) -> EnvNum {
        EnvNum { var, value: OnceLock::new() }
    }

    /// The number set, if any.
    pub(crate) fn get(&self) -> Option<usize> {
        *self.value.get_or_init(|| std::env::var(self.var).ok().and_then(|v| v.trim().parse().ok()))
    }

    /// The number set, else `default`.
    pub(crate) fn or(&self, default: usize) -> usize {
        self.get().unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_read_their_variables() {
        // Variables no other test or user sets (the process environment is shared).
        std::env::set_var("ZENRT_TEST_KNOB_NUM", " 42");
        std::env::set_var("ZENRT_TEST_KNOB_BAD", "4x");
        std::env::set_var("ZENRT_TEST_KNOB_OFF", "0");
        assert_eq!(EnvNum::new("ZENRT_TEST_KNOB_NUM").or(7), 42);
        assert_eq!(EnvNum::new("ZENRT_TEST_KNOB_BAD").or(7), 7);
        assert_eq!(EnvNum::new("ZENRT_TEST_KNOB_UNSET").get(), None);
        assert!(!Switch::new("ZENRT_TEST_KNOB_OFF", true).on());
        assert!(Switch::new("ZENRT_TEST_KNOB_UNSET", true).on());
        let s = Switch::new("ZENRT_TEST_KNOB_UNSET", false);
        s.set(true);
        assert!(s.on());
    }
}
