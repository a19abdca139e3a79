//! Intra-op threading: persistent process-wide pools, one per thread count, shared by every
//! session that asks for that many threads.
//!
//! **The caller is one of the threads.** A pool of `n` threads owns `n - 1` workers; a plan runs
//! on the thread that called it ([`run_in`] only marks the pool as the current one there) and
//! enters the pool only where a kernel splits work ([`for_each_task`] and the chunk helpers built
//! on it). A split publishes the job, wakes the workers and runs tasks itself. The tasks are cut
//! into one contiguous range per thread (the caller takes the first), each with its own claim
//! counter on its own cache line; a thread that finishes its range steals from the others'. So a
//! worker that wakes late simply finds fewer (or no) tasks left and the caller never waits for a
//! wake-up, only for tasks a worker already started; and while no one steals, a claim touches
//! only its own thread's cache line, and each thread works on the same part of every split
//! (the same rows or channels op after op), so data stays in its core's cache. One shared
//! counter cost a cache-line transfer per task: about 200 ns one way between this VM's two
//! cores when the host places them apart (`docs/kernels.md`, session 11). Workers spin a
//! short while after each job ([`SPIN_US`]) before they sleep, so back-to-back splits of one run find
//! them awake. Small kernels do not split at all (each kernel checks its own work threshold), so a
//! model of small ops runs at 2 threads exactly as at 1.
//!
//! **No oversubscription.** One job runs on a pool at a time: a split that finds its pool busy
//! (another session on another thread, or a nested split inside a task) runs serially on its own
//! thread. So `k` callers sharing an `n`-thread pool keep at most `k + n - 1` threads busy, and a
//! single caller exactly `n`.
//!
//! Outside [`run_in`] (tests, tools, worker threads) [`current`] is 1 and every helper runs
//! serially.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a worker keeps polling for the next job before it sleeps, in µs
/// (`ZENRT_SPIN_US` overrides; 0 sleeps at once).
const SPIN_US: u64 = 50;

fn spin_time() -> Duration {
    static US: crate::tuning::EnvNum = crate::tuning::EnvNum::new("ZENRT_SPIN_US");
    Duration::from_micros(US.or(SPIN_US as usize) as u64)
}

/// The number of hardware threads available to this process (at least 1).
pub fn available() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A persistent pool of `threads() - 1` worker threads plus whichever thread splits work on it.
pub struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    /// Set while a job runs (one at a time; a split finding it set runs serially).
    busy: AtomicBool,
    workers: Vec<JoinHandle<()>>,
}

/// The state the caller and the workers share.
struct Shared {
    /// Bumped each time a job is published (workers wait for a change).
    epoch: AtomicUsize,
    /// The running job (null between jobs). Valid while a worker counted in `active` holds it.
    job: AtomicPtr<Job<'static>>,
    /// Workers between reading `job` and finishing their tasks.
    active: AtomicUsize,
    /// Workers asleep on `wake` (the caller skips the notify when none are).
    sleepers: AtomicUsize,
    /// Each thread's range of the running job's tasks (index 0: the caller; worker `i`: `i`).
    slots: Box<[Slot]>,
    shutdown: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

/// One thread's range of a job's tasks, `next..end`, claimed one at a time by its owner and, once
/// the thieves have none left of their own, by them. Alone on its cache line pair (Zen fetches
/// lines in pairs), so the owner's claims do not move a line another thread writes.
#[repr(align(128))]
struct Slot {
    next: AtomicUsize,
    end: AtomicUsize,
}

/// Past every `end`: a slot set to it has no tasks left (and `fetch_add` cannot overflow).
const DRAINED: usize = usize::MAX / 2;

/// One split: tasks `0..n` of `f`, claimed through the pool's slots.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    /// The first panic of a task on a worker (re-raised on the caller).
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Job<'_> {
    /// Runs the tasks of slot `me`, then steals the others' (the next slot first).
    fn work(&self, slots: &[Slot], me: usize) {
        let t = slots.len();
        for k in 0..t {
            let s = &slots[(me + k) % t];
            loop {
                let i = s.next.fetch_add(1, SeqCst);
                if i >= s.end.load(SeqCst) {
                    break;
                }
                (self.f)(i);
            }
        }
    }

    /// Leaves no task to claim (after a panic).
    fn drain(slots: &[Slot]) {
        slots.iter().for_each(|s| s.next.store(DRAINED, SeqCst));
    }
}

impl Pool {
    fn new(threads: usize) -> Option<Pool> {
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            active: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            slots: (0..threads).map(|_| Slot { next: AtomicUsize::new(DRAINED), end: AtomicUsize::new(0) }).collect(),
            shutdown: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut workers = Vec::with_capacity(threads - 1);
        for i in 1..threads {
            let sh = shared.clone();
            let spin = spin_time();
            let spawned =
                std::thread::Builder::new().name(format!("zenrt-{threads}-{i}")).spawn(move || worker(&sh, spin, i));
            match spawned {
                Ok(h) => workers.push(h),
                Err(_) => break,
            }
        }
        // Threads that failed to start own no slot: the ranges are cut over those that did.
        let threads = workers.len() + 1;
        (threads > 1).then(|| Pool { threads, shared, busy: AtomicBool::new(false), workers })
    }

    /// The number of threads a split uses (the workers and the caller).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(i)` for every `i < n` over this pool and the calling thread; serially when the
    /// pool is busy with another job.
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if self.busy.compare_exchange(false, true, SeqCst, SeqCst).is_err() {
            return (0..n).for_each(f);
        }
        let job = Job { f, panic: Mutex::new(None) };
        let sh = &*self.shared;
        let slots = &sh.slots[..self.threads];
        // No worker reads the slots before the job is published below (the last one's tasks
        // ended with `active` back at 0).
        let t = self.threads;
        for (k, s) in slots.iter().enumerate() {
            s.end.store((k + 1) * n / t, SeqCst);
            s.next.store(k * n / t, SeqCst);
        }
        // The pointer is withdrawn (and every worker holding it waited for) by `Finish` before
        // `job` goes out of scope, also when a task panics on this thread.
        sh.job.store(&job as *const Job<'_> as *mut Job<'static>, SeqCst);
        sh.epoch.fetch_add(1, SeqCst);
        if sh.sleepers.load(SeqCst) > 0 {
            let _g = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.wake.notify_all();
        }
        {
            let _finish = Finish(self);
            let _serial = Enter::new(std::ptr::null());
            job.work(slots, 0);
        }
        let panic = job.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }
}

/// Withdraws the running job and waits until no worker holds it, then frees the pool.
struct Finish<'a>(&'a Pool);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let sh = &*self.0.shared;
        sh.job.store(std::ptr::null_mut(), SeqCst);
        // A worker that counts itself active after this point reads the null job (both SeqCst).
        // Yield now and then: on a busy machine the worker may be waiting for this very core.
        let mut polls = 0u32;
        while sh.active.load(SeqCst) > 0 {
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(256) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        self.0.busy.store(false, SeqCst);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker(sh: &Shared, spin: Duration, me: usize) {
    let slots = &sh.slots[..];
    let mut seen = 0;
    loop {
        let started = Instant::now();
        let mut polls = 0u32;
        loop {
            let e = sh.epoch.load(SeqCst);
            if e != seen {
                seen = e;
                break;
            }
            if sh.shutdown.load(SeqCst) {
                return;
            }
            polls = polls.wrapping_add(1);
            if !polls.is_multiple_of(64) {
                std::hint::spin_loop();
                continue;
            }
            if started.elapsed() < spin {
                std::thread::yield_now();
                continue;
            }
            let mut g = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.sleepers.fetch_add(1, SeqCst);
            while sh.epoch.load(SeqCst) == seen && !sh.shutdown.load(SeqCst) {
                g = sh.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            sh.sleepers.fetch_sub(1, SeqCst);
        }
        sh.active.fetch_add(1, SeqCst);
        let job = sh.job.load(SeqCst);
        // SAFETY: a non-null job stays alive until `active` drops back (see `Finish`).
        if let Some(job) = unsafe { job.as_ref() } {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| job.work(slots, me))) {
                Job::drain(slots);
                job.panic.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(p);
            }
        }
        sh.active.fetch_sub(1, SeqCst);
    }
}

/// The shared pool of `n` threads (created on first use), or `None` for `n <= 1` (serial).
pub fn pool(n: usize) -> Option<Arc<Pool>> {
    if n <= 1 {
        return None;
    }
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<Pool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&n) {
        return Some(p.clone());
    }
    let p = Arc::new(Pool::new(n)?);
    pools.insert(n, p.clone());
    Some(p)
}

thread_local! {
    /// The pool kernels on this thread may split over (null: serial).
    static CURRENT: Cell<*const Pool> = const { Cell::new(std::ptr::null()) };
}

/// Sets [`CURRENT`] for a scope and restores the previous value after (also on panic).
struct Enter(*const Pool);

impl Enter {
    fn new(p: *const Pool) -> Enter {
        Enter(CURRENT.with(|c| c.replace(p)))
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs `f` on this thread with `pool` as the current pool (kernels inside may split over it);
/// serially without one.
pub fn run_in<R>(pool: Option<&Pool>, f: impl FnOnce() -> R) -> R {
    let _enter = Enter::new(pool.map_or(std::ptr::null(), |p| p as *const Pool));
    f()
}

/// How many threads a kernel may split over here: the current pool's size, or 1 outside any
/// pool (and inside a task).
pub fn current() -> usize {
    // SAFETY: CURRENT is non-null only inside `run_in`, which borrows the pool.
    CURRENT.with(|c| unsafe { c.get().as_ref() }.map_or(1, Pool::threads))
}

/// Calls `f(i)` for every `i < n`, in parallel over the current pool (serially outside one or
/// when `n <= 1`). Tasks run in no particular order, each exactly once; a split inside a task runs
/// serially.
pub fn for_each_task(n: usize, f: impl Fn(usize) + Sync) {
    // SAFETY: as in `current`.
    match CURRENT.with(|c| unsafe { c.get().as_ref() }) {
        Some(p) if n > 1 => p.run(n, &f),
        _ => (0..n).for_each(f),
    }
}

/// Like [`for_each_task`] with fallible tasks: the first error (in task order) is returned.
pub fn try_for_each_task<E: Send>(n: usize, f: impl Fn(usize) -> Result<(), E> + Sync) -> Result<(), E> {
    let errors: Mutex<Vec<(usize, E)>> = Mutex::new(Vec::new());
    for_each_task(n, |i| {
        if let Err(e) = f(i) {
            errors.lock().unwrap_or_else(|e| e.into_inner()).push((i, e));
        }
    });
    let errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
    errors.into_iter().min_by_key(|(i, _)| *i).map_or(Ok(()), |(_, e)| Err(e))
}

/// A slice cut into `size`-long chunks that tasks on different threads take by index.
struct Chunks<'a, T> {
    ptr: *mut T,
    len: usize,
    size: usize,
    _slice: PhantomData<&'a mut [T]>,
}

// SAFETY: chunks of distinct indices are disjoint; `Chunks::get` requires each index be taken
// at most once, so no element is reachable from two threads.
unsafe impl<T: Send> Sync for Chunks<'_, T> {}

impl<'a, T> Chunks<'a, T> {
    fn new(s: &'a mut [T], size: usize) -> Self {
        Chunks { ptr: s.as_mut_ptr(), len: s.len(), size: size.max(1), _slice: PhantomData }
    }
    fn count(&self) -> usize {
        self.len.div_ceil(self.size)
    }
    /// Chunk `i` (`i < count()`).
    /// SAFETY: each `i` must be taken at most once while the chunks live.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self, i: usize) -> &'a mut [T] {
        let start = (i * self.size).min(self.len);
        let end = (start + self.size).min(self.len);
        // SAFETY: `start..end` lies inside the slice; disjoint from other indices' chunks.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), end - start) }
    }
}

/// Calls `f(i, chunk)` for each consecutive `size`-long chunk of `out` (the last may be shorter),
/// over the current pool.
pub fn for_each_chunk<T: Send>(out: &mut [T], size: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let c = Chunks::new(out, size);
    // SAFETY: `for_each_task` runs each index once.
    for_each_task(c.count(), |i| f(i, unsafe { c.get(i) }));
}

/// Like [`for_each_chunk`] with fallible calls: the first error (in chunk order) is returned.
pub fn try_for_each_chunk<T: Send, E: Send>(
    out: &mut [T],
    size: usize,
    f: impl Fn(usize, &mut [T]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let c = Chunks::new(out, size);
    // SAFETY: `try_for_each_task` runs each index once.
    try_for_each_task(c.count(), |i| f(i, unsafe { c.get(i) }))
}

/// Calls `f(i, a_i, b_i)` over the zipped chunks of `a` (`ca` long) and `b` (`cb` long), as many
/// as the shorter has, over the current pool.
pub fn for_each_chunk_zip<A: Send, B: Send>(
    a: &mut [A],
    ca: usize,
    b: &mut [B],
    cb: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) {
    let (a, b) = (Chunks::new(a, ca), Chunks::new(b, cb));
    // SAFETY: `for_each_task` runs each index once.
    for_each_task(a.count().min(b.count()), |i| f(i, unsafe { a.get(i) }, unsafe { b.get(i) }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn pools_are_shared_and_serial_outside() {
        assert!(pool(1).is_none());
        let (a, b) = (pool(2).unwrap(), pool(2).unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(current(), 1);
        assert_eq!(run_in(Some(&a), current), 2);
        assert_eq!(current(), 1);
        let hits = AtomicUsize::new(0);
        run_in(Some(&a), || for_each_task(100, |_| _ = hits.fetch_add(1, SeqCst)));
        assert_eq!(hits.load(SeqCst), 100);
    }

    #[test]
    fn tasks_run_once_on_several_threads_and_nest_serially() {
        // A pool of its own (a shared one may be busy with another test's job, which is serial).
        let p = Pool::new(3).unwrap();
        let n = 2000;
        let counts: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        let threads = Mutex::new(std::collections::HashSet::new());
        let nested = AtomicUsize::new(0);
        for _ in 0..20 {
            run_in(Some(&p), || {
                for_each_task(n, |i| {
                    counts[i].fetch_add(1, SeqCst);
                    threads.lock().unwrap().insert(std::thread::current().id());
                    // Inside a task: no further split.
                    assert_eq!(current(), 1);
                    for_each_task(3, |_| _ = nested.fetch_add(1, SeqCst));
                    // Some slow tasks, so a woken worker finds work left even on a busy machine.
                    if i % 250 == 0 {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                })
            });
        }
        assert!(counts.iter().all(|c| c.load(SeqCst) == 20));
        assert_eq!(nested.load(SeqCst), 3 * 20 * n);
        assert!(threads.lock().unwrap().len() > 1, "no worker ever took a task");
    }

    #[test]
    fn chunks_errors_and_panics() {
        let p = pool(2).unwrap();
        let mut v = vec![0usize; 1003];
        run_in(Some(&p), || for_each_chunk(&mut v, 10, |i, c| c.iter_mut().for_each(|x| *x = i)));
        assert!(v.iter().enumerate().all(|(j, &x)| x == j / 10));
        let mut w = vec![0u8; 7];
        let mut u = vec![0u8; 100];
        run_in(Some(&p), || for_each_chunk_zip(&mut w, 2, &mut u, 10, |i, a, b| a[0] = b.len() as u8 + i as u8));
        assert_eq!(w, [10, 0, 11, 0, 12, 0, 13]);
        let r = run_in(Some(&p), || try_for_each_chunk(&mut v, 100, |i, _| if i % 3 == 1 { Err(i) } else { Ok(()) }));
        assert_eq!(r, Err(1));
        // A panicking task reaches the caller; the pool keeps working afterwards.
        let caught = catch_unwind(AssertUnwindSafe(|| run_in(Some(&p), || for_each_task(50, |i| assert!(i != 37)))));
        assert!(caught.is_err());
        let hits = AtomicUsize::new(0);
        run_in(Some(&p), || for_each_task(64, |_| _ = hits.fetch_add(1, SeqCst)));
        assert_eq!(hits.load(SeqCst), 64);
    }

    #[test]
    fn concurrent_callers_share_a_pool() {
        let p = pool(2).unwrap();
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        run_in(Some(&p), || for_each_task(17, |_| _ = total.fetch_add(1, SeqCst)));
                    }
                });
            }
        });
        assert_eq!(total.load(SeqCst), 4 * 200 * 17);
    }
}
