//! Intra-op threading: process-wide rayon pools, one per thread count, shared by every session
//! that asks for that many threads (two sessions of 2 threads share one 2-thread pool instead of
//! oversubscribing the cores).
//!
//! A plan runs its kernels inside its pool ([`run_in`]); kernels then split work with
//! [`for_each_task`] (or plain rayon), which runs serially when no pool is installed, so
//! a kernel called outside a session (tests, tools) uses one thread.

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The number of hardware threads available to this process (at least 1).
pub fn available() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The shared pool of `n` threads (created on first use), or `None` for `n <= 1` (serial).
pub fn pool(n: usize) -> Option<Arc<ThreadPool>> {
    if n <= 1 {
        return None;
    }
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&n) {
        return Some(p.clone());
    }
    let p = ThreadPoolBuilder::new().num_threads(n).thread_name(move |i| format!("zenrt-{n}-{i}")).build().ok()?;
    let p = Arc::new(p);
    pools.insert(n, p.clone());
    Some(p)
}

/// Runs `f` with `pool` installed (kernels inside it may run in parallel); serially without one.
pub fn run_in<R: Send>(pool: Option<&ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// How many threads a kernel may use here: the installed pool's size, or 1 outside any pool.
pub fn current() -> usize {
    if rayon::current_thread_index().is_some() {
        rayon::current_num_threads()
    } else {
        1
    }
}

/// Calls `f(i)` for every `i < n`, in parallel over the installed pool (serially outside one or
/// when `n <= 1`).
pub fn for_each_task(n: usize, f: impl Fn(usize) + Send + Sync) {
    if n <= 1 || current() <= 1 {
        (0..n).for_each(f);
    } else {
        use rayon::prelude::*;
        (0..n).into_par_iter().for_each(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn pools_are_shared_and_serial_outside() {
        assert!(pool(1).is_none());
        let (a, b) = (pool(2).unwrap(), pool(2).unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(current(), 1);
        assert_eq!(run_in(Some(&a), current), 2);
        let hits = AtomicUsize::new(0);
        run_in(Some(&a), || for_each_task(100, |_| _ = hits.fetch_add(1, Ordering::Relaxed)));
        assert_eq!(hits.load(Ordering::Relaxed), 100);
    }
}
