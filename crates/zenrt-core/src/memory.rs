//! Memory: the buffer pool kernels allocate from, and the static memory plan (tensor lifetimes and
//! one arena with offsets computed ahead). See `docs/memory.md`.
//!
//! **Allocation.** Kernels take their output storage from [`alloc`] / [`alloc_for_overwrite`]
//! instead of `vec![0; n]`. While a plan runs, the executor installs its [`BufferPool`] on the
//! running thread, and these calls are served from buffers freed earlier in the run or in an
//! earlier run (the executor gives back every intermediate whose last reader has run, when it
//! holds the only reference). A warm run of a model with static shapes therefore takes its
//! tensor storage from the pool instead of the heap. Outside a run (or on the thread pool's worker threads,
//! which have no pool installed) both calls are plain allocations.
//!
//! **Planning.** [`layout`] assigns byte offsets in one arena to buffers with known sizes and
//! lifetimes (greedy by size, best-fit gap, 64-byte alignment); [`MemoryPlan`] is the report
//! `Plan::memory_plan` builds from it (and `zenrt inspect MODEL --plan` prints).

use crate::{dispatch_all, DType, Elem, TensorData};
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// A zero-filled buffer of `n` elements for a kernel's output (from the running plan's pool when
/// one is installed on this thread).
pub fn alloc<T: Elem>(n: usize) -> Vec<T> {
    match take::<T>(n) {
        Some(mut v) => {
            v.clear();
            v.resize(n, T::zero());
            v
        }
        None => vec![T::zero(); n],
    }
}

/// A buffer of `n` elements whose contents the caller overwrites entirely before reading.
/// A pooled buffer may hold stale values of type `T` (never uninitialised memory).
pub fn alloc_for_overwrite<T: Elem>(n: usize) -> Vec<T> {
    match take::<T>(n) {
        Some(mut v) => {
            if v.len() >= n {
                v.truncate(n);
            } else {
                v.resize(n, T::zero());
            }
            v
        }
        None => vec![T::zero(); n],
    }
}

/// Gives a buffer back to the running plan's pool (scratch space a kernel is done with); dropped
/// normally when no pool is installed on this thread or the pool is full.
pub fn recycle<T: Elem>(v: Vec<T>) {
    if v.capacity() == 0 {
        return;
    }
    ACTIVE.with(|a| {
        if let Ok(mut a) = a.try_borrow_mut() {
            if let Some(free) = a.as_mut() {
                free.put(v.capacity() * std::mem::size_of::<T>(), T::DTYPE, T::wrap(v));
            }
        }
    });
}

/// Like [`recycle`] for a tensor's storage of any dtype.
pub fn recycle_data(d: TensorData) {
    dispatch_all!(d.dtype(), T => {
        if let Some(v) = T::unwrap(d) {
            recycle::<T>(v)
        }
    })
}

fn take<T: Elem>(n: usize) -> Option<Vec<T>> {
    if n == 0 {
        return None;
    }
    ACTIVE.with(|a| {
        let mut a = a.try_borrow_mut().ok()?;
        let free = a.as_mut()?;
        match free.take(T::DTYPE, n) {
            Some(d) => T::unwrap(d),
            None => {
                free.stats.fresh += 1;
                free.stats.fresh_bytes += (n * std::mem::size_of::<T>()) as u64;
                None
            }
        }
    })
}

thread_local! {
    /// The pool of the plan running on this thread, if any.
    static ACTIVE: RefCell<Option<Free>> = const { RefCell::new(None) };
}

/// Counters of a [`BufferPool`], summed over the runs it served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Allocations served from the pool.
    pub reused: u64,
    /// Bytes served from the pool.
    pub reused_bytes: u64,
    /// Allocations the pool could not serve (fresh heap allocations).
    pub fresh: u64,
    pub fresh_bytes: u64,
    /// Buffers given back but dropped because the pool was at its cap.
    pub dropped: u64,
}

/// Free buffers by dtype: (capacity in bytes, age stamp, storage).
#[derive(Default)]
struct Free {
    lists: [Vec<(usize, u64, TensorData)>; 13],
    bytes: usize,
    cap: usize,
    /// Stamp of the next buffer given back (older buffers are evicted first when full).
    clock: u64,
    stats: PoolStats,
    /// `ZENRT_POOL=lean`: the first run drops old free buffers on a miss (lower peak RSS, and a
    /// cap at about the arena: a few heap allocations per warm run).
    lean: bool,
}

impl Free {
    /// The smallest free buffer of `dtype` holding `n` elements, if it wastes at most half of itself.
    fn take(&mut self, dtype: DType, n: usize) -> Option<TensorData> {
        let want = n * dtype.size();
        let list = &mut self.lists[dtype as usize];
        let mut best: Option<(usize, usize)> = None;
        for (i, (cap, _, _)) in list.iter().enumerate() {
            if *cap >= want && *cap <= want.saturating_mul(2).max(want + 256) && best.is_none_or(|(_, c)| *cap < c) {
                best = Some((i, *cap));
                if *cap == want {
                    break;
                }
            }
        }
        let Some((i, cap)) = best else {
            // A miss allocates fresh. Before the first run has set the cap, also drop as many
            // bytes of the oldest free buffers (of sizes this run has not asked for again), so
            // the heap can serve the new buffer from them: the first run's peak stays near the
            // live set instead of the live set plus every buffer ever freed.
            if self.cap == usize::MAX && self.lean {
                self.evict_to(self.bytes.saturating_sub(want));
            }
            return None;
        };
        self.bytes -= cap;
        self.stats.reused += 1;
        self.stats.reused_bytes += want as u64;
        Some(list.swap_remove(i).2)
    }

    /// Keeps a freed buffer, evicting the oldest ones if it would exceed the cap.
    fn put(&mut self, bytes: usize, dtype: DType, d: TensorData) {
        if bytes > self.cap {
            self.stats.dropped += 1;
            return;
        }
        self.bytes += bytes;
        self.clock += 1;
        self.lists[dtype as usize].push((bytes, self.clock, d));
        self.trim();
    }

    /// Drops buffers (oldest first) until at most `cap` bytes are held.
    fn trim(&mut self) {
        self.evict_to(self.cap)
    }

    /// Drops buffers (oldest first) until at most `limit` bytes are held.
    fn evict_to(&mut self, limit: usize) {
        while self.bytes > limit {
            let Some((li, bi)) = self
                .lists
                .iter()
                .enumerate()
                .flat_map(|(li, l)| l.iter().enumerate().map(move |(bi, (_, age, _))| (*age, li, bi)))
                .min()
                .map(|(_, li, bi)| (li, bi))
            else {
                break;
            };
            let (c, _, _) = self.lists[li].swap_remove(bi);
            self.bytes -= c;
            self.stats.dropped += 1;
        }
    }

    fn buffers(&self) -> usize {
        self.lists.iter().map(|l| l.len()).sum()
    }
}

/// Recycled tensor storage owned by a plan. Thread-safe: a run takes the whole pool for itself
/// (installs it on its thread) and puts it back when done, so a concurrent run of the same plan
/// simply finds the pool empty and allocates normally.
pub struct BufferPool {
    state: Mutex<Free>,
    enabled: AtomicBool,
    /// Cap decided (after the first run); until then the pool keeps everything.
    capped: AtomicBool,
    /// Arena size of the first run's observed values (see [`BufferPool::cap_after_run`]).
    arena_hint: AtomicUsize,
}

impl Default for BufferPool {
    fn default() -> Self {
        BufferPool::new()
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BufferPool({} bytes held)", self.held_bytes())
    }
}

impl BufferPool {
    /// An empty pool; enabled unless the environment sets `ZENRT_POOL=0`.
    pub fn new() -> BufferPool {
        let mode = std::env::var("ZENRT_POOL").unwrap_or_default();
        let enabled = mode != "0";
        BufferPool {
            state: Mutex::new(Free { cap: usize::MAX, lean: mode == "lean", ..Free::default() }),
            enabled: AtomicBool::new(enabled),
            capped: AtomicBool::new(false),
            arena_hint: AtomicUsize::new(0),
        }
    }

    /// Turns recycling on or off (off: every allocation is a plain heap allocation, and the held
    /// buffers are released).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
        if !on {
            let mut st = self.lock();
            let stats = st.stats;
            let cap = st.cap;
            *st = Free { cap, stats, ..Free::default() };
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Bytes of free buffers held now (not counting a run in progress).
    pub fn held_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Number of free buffers held now.
    pub fn held_buffers(&self) -> usize {
        self.lock().buffers()
    }

    /// The most bytes the pool keeps between runs (`usize::MAX` before the first run set it).
    pub fn cap(&self) -> usize {
        self.lock().cap
    }

    /// Whether the cap has been set (by [`BufferPool::set_cap`]).
    pub fn is_capped(&self) -> bool {
        self.capped.load(Ordering::Relaxed)
    }

    /// Sets the most bytes kept between runs and drops buffers beyond it.
    pub fn set_cap(&self, cap: usize) {
        let mut st = self.lock();
        st.cap = cap;
        st.trim();
        self.capped.store(true, Ordering::Relaxed);
    }

    /// Caps the pool when the current run ends: at what the run left in the pool (its working
    /// set: intermediates and kernel scratch), but at least `arena` (the layout of the run's
    /// values). When full, the oldest free buffers are dropped first.
    pub fn cap_after_run(&self, arena: usize) {
        self.arena_hint.store(arena.max(1), Ordering::Relaxed);
    }

    /// Counters summed over all runs so far.
    pub fn stats(&self) -> PoolStats {
        self.lock().stats
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Free> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs this pool on the current thread until the returned scope is dropped. Does nothing
    /// when disabled or when a pool is already installed here (a subgraph or nested run then
    /// shares the outer one).
    pub fn enter(&self) -> PoolScope<'_> {
        if !self.is_enabled() {
            return PoolScope { pool: None };
        }
        let installed = ACTIVE.with(|a| {
            let Ok(mut a) = a.try_borrow_mut() else { return false };
            if a.is_some() {
                return false;
            }
            let mut st = self.lock();
            let cap = st.cap;
            let mut free = std::mem::take(&mut *st);
            st.cap = cap;
            st.stats = free.stats;
            free.stats = PoolStats::default();
            *a = Some(free);
            true
        });
        PoolScope { pool: installed.then_some(self) }
    }
}

/// Keeps a [`BufferPool`] installed on the current thread; puts it back on drop.
pub struct PoolScope<'a> {
    pool: Option<&'a BufferPool>,
}

impl PoolScope<'_> {
    /// Whether this scope installed the pool (false when nested or disabled).
    pub fn is_active(&self) -> bool {
        self.pool.is_some()
    }
}

impl Drop for PoolScope<'_> {
    fn drop(&mut self) {
        let Some(pool) = self.pool else { return };
        let Some(mut free) = ACTIVE.with(|a| a.try_borrow_mut().ok().and_then(|mut a| a.take())) else { return };
        let mut st = pool.lock();
        let mut stats = st.stats;
        stats.reused += free.stats.reused;
        stats.reused_bytes += free.stats.reused_bytes;
        stats.fresh += free.stats.fresh;
        stats.fresh_bytes += free.stats.fresh_bytes;
        stats.dropped += free.stats.dropped;
        let hint = pool.arena_hint.swap(0, Ordering::Relaxed);
        if hint > 0 && !pool.is_capped() {
            st.cap = free.bytes.max(hint);
            pool.capped.store(true, Ordering::Relaxed);
        }
        let cap = st.cap;
        if st.buffers() == 0 {
            free.cap = cap;
            free.trim();
            *st = free;
        } else {
            // A concurrent run put its pool back first: keep what fits.
            for (i, list) in free.lists.iter_mut().enumerate() {
                for (b, _, d) in list.drain(..) {
                    st.put(b, DType::ALL[i], d);
                }
            }
        }
        st.stats = stats;
    }
}

/// Alignment of every buffer in the arena (a cache line; also what AVX-512 loads want).
pub const ARENA_ALIGN: usize = 64;

/// One buffer to place: its size and the steps it is live (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    pub bytes: usize,
    pub first: usize,
    pub last: usize,
}

impl Lifetime {
    fn overlaps(&self, o: &Lifetime) -> bool {
        self.first <= o.last && o.first <= self.last
    }
}

/// Rounds `n` up to a multiple of [`ARENA_ALIGN`].
pub fn align_up(n: usize) -> usize {
    n.div_ceil(ARENA_ALIGN) * ARENA_ALIGN
}

/// Assigns each buffer an offset in one arena so that buffers live at the same time never
/// overlap; returns the offsets (in input order) and the arena size.
///
/// Greedy by size: buffers are placed largest first; each goes into the smallest gap between the
/// already placed buffers whose lifetimes overlap its own (best fit), or after the last of them.
/// Offsets and sizes are rounded up to 64 bytes.
pub fn layout(bufs: &[Lifetime]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..bufs.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(bufs[i].bytes), bufs[i].first, i));
    let mut offsets = vec![0usize; bufs.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(bufs.len());
    let mut arena = 0usize;
    for &i in &order {
        let size = align_up(bufs[i].bytes);
        if size == 0 {
            continue;
        }
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| bufs[j].overlaps(&bufs[i]))
            .map(|&j| (offsets[j], offsets[j] + align_up(bufs[j].bytes)))
            .collect();
        busy.sort_unstable();
        let mut best: Option<(usize, usize)> = None; // (gap size, offset)
        let mut cursor = 0usize;
        for &(s, e) in &busy {
            if s > cursor {
                let gap = s - cursor;
                if gap >= size && best.is_none_or(|(g, _)| gap < g) {
                    best = Some((gap, cursor));
                }
            }
            cursor = cursor.max(e);
        }
        let off = best.map(|(_, o)| o).unwrap_or(cursor);
        offsets[i] = off;
        arena = arena.max(off + size);
        placed.push(i);
    }
    (offsets, arena)
}

/// The largest sum of sizes of buffers live at one step, and that step: a lower bound of any
/// arena holding them.
pub fn peak_live(bufs: &[Lifetime]) -> (usize, usize) {
    let steps = bufs.iter().map(|b| b.last + 1).max().unwrap_or(0);
    let mut delta = vec![0i128; steps + 1];
    for b in bufs {
        delta[b.first] += b.bytes as i128;
        delta[b.last + 1] -= b.bytes as i128;
    }
    let (mut cur, mut best, mut at) = (0i128, 0i128, 0usize);
    for (s, d) in delta.iter().enumerate().take(steps) {
        cur += d;
        if cur > best {
            best = cur;
            at = s;
        }
    }
    (best as usize, at)
}

/// One planned intermediate value.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedValue {
    pub value: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: usize,
    /// Offset in the arena (values sharing a buffer in place share it).
    pub offset: usize,
    /// Index of the arena buffer holding it.
    pub buffer: usize,
    /// Step that produces it.
    pub def_step: usize,
    /// Last step that reads it (`num_steps` for graph outputs, which outlive the run).
    pub last_step: usize,
    /// The input whose buffer it reuses in place, if any.
    pub in_place_of: Option<String>,
    /// A graph output (handed to the caller).
    pub is_output: bool,
}

/// An intermediate whose size is not known before the run.
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicValue {
    pub value: String,
    /// What static inference knows (`float32[batch,?]`, `?[*]`).
    pub type_string: String,
    pub def_step: usize,
    pub last_step: usize,
}

/// The static memory plan of a graph for given input shapes: every intermediate value's size and
/// lifetime, and one arena layout holding them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryPlan {
    pub num_steps: usize,
    /// Planned values, in execution order.
    pub values: Vec<PlannedValue>,
    /// Values whose size static inference could not tell.
    pub dynamic: Vec<DynamicValue>,
    /// Symbolic dims used, with their values.
    pub dims: Vec<(String, usize)>,
    /// Most bytes of planned values live at one step (the lower bound for any layout).
    pub peak_live_bytes: usize,
    /// The step where that peak occurs.
    pub peak_step: usize,
    /// Size of the arena the layout needs.
    pub arena_bytes: usize,
    /// Number of distinct buffers (values reusing an input in place share one).
    pub num_buffers: usize,
    /// Sum of the planned values' sizes (what one buffer per value would take).
    pub total_bytes: usize,
    /// Bytes of constants (weights) the plan holds, raw or packed into kernels; not part of the arena.
    pub weight_bytes: usize,
}

/// `1.23 MiB`-style size.
pub fn human_bytes(b: usize) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", units[u])
    }
}

impl MemoryPlan {
    /// The summary lines (no table).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let dims = if self.dims.is_empty() {
            String::new()
        } else {
            format!(" (dims: {})", self.dims.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "))
        };
        s += &format!("memory plan: {} step(s){dims}\n", self.num_steps);
        s += &format!(
            "  peak live activations: {} ({} bytes) at step {}\n",
            human_bytes(self.peak_live_bytes),
            self.peak_live_bytes,
            self.peak_step
        );
        s += &format!(
            "  arena:                 {} ({} bytes), {} buffer(s) for {} value(s), {:.1}% over the peak\n",
            human_bytes(self.arena_bytes),
            self.arena_bytes,
            self.num_buffers,
            self.values.len(),
            if self.peak_live_bytes > 0 {
                100.0 * (self.arena_bytes as f64 / self.peak_live_bytes as f64 - 1.0)
            } else {
                0.0
            }
        );
        s += &format!("  without reuse:         {} (one buffer per value)\n", human_bytes(self.total_bytes));
        let inplace = self.values.iter().filter(|v| v.in_place_of.is_some()).count();
        s += &format!("  in place:              {inplace} value(s) reuse a dying input's buffer\n");
        s += &format!("  weights:               {} (not in the arena)\n", human_bytes(self.weight_bytes));
        s += &format!("  dynamic (not planned): {} value(s)\n", self.dynamic.len());
        s
    }
}

impl fmt::Display for MemoryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())?;
        if !self.values.is_empty() {
            let w = self.values.iter().map(|v| v.value.len()).max().unwrap_or(5).clamp(5, 48);
            writeln!(
                f,
                "  {:<w$}  {:<8} {:<20} {:>12} {:>12} {:>5} {:>5}  note",
                "value", "dtype", "shape", "bytes", "offset", "def", "last"
            )?;
            for v in &self.values {
                let shape = format!("{:?}", v.shape);
                let mut note = String::new();
                if let Some(src) = &v.in_place_of {
                    note += &format!("in place of {src}");
                }
                if v.is_output {
                    note += if note.is_empty() { "output" } else { ", output" };
                }
                let name: String = if v.value.len() > w {
                    format!("…{}", &v.value[v.value.len() - (w - 1)..])
                } else {
                    v.value.clone()
                };
                writeln!(
                    f,
                    "  {:<w$}  {:<8} {:<20} {:>12} {:>12} {:>5} {:>5}  {note}",
                    name,
                    v.dtype.name(),
                    shape,
                    v.bytes,
                    v.offset,
                    v.def_step,
                    v.last_step
                )?;
            }
        }
        if !self.dynamic.is_empty() {
            writeln!(f, "  dynamic values:")?;
            for d in &self.dynamic {
                writeln!(f, "    {}: {} (steps {}..{})", d.value, d.type_string, d.def_step, d.last_step)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lt(bytes: usize, first: usize, last: usize) -> Lifetime {
        Lifetime { bytes, first, last }
    }

    /// Checks a layout: no two overlapping lifetimes share bytes, everything inside the arena.
    fn check(bufs: &[Lifetime], offs: &[usize], arena: usize) {
        for i in 0..bufs.len() {
            assert_eq!(offs[i] % ARENA_ALIGN, 0);
            assert!(offs[i] + bufs[i].bytes <= arena);
            for j in 0..i {
                if bufs[i].overlaps(&bufs[j]) && bufs[i].bytes > 0 && bufs[j].bytes > 0 {
                    let (a0, a1) = (offs[i], offs[i] + bufs[i].bytes);
                    let (b0, b1) = (offs[j], offs[j] + bufs[j].bytes);
                    assert!(a1 <= b0 || b1 <= a0, "buffers {i} and {j} overlap: {a0}..{a1} vs {b0}..{b1}");
                }
            }
        }
    }

    #[test]
    fn chain_reuses_two_buffers() {
        // x0 -> x1 -> x2 -> x3, each read only by the next step: two buffers suffice.
        let bufs: Vec<Lifetime> = (0..4).map(|i| lt(1000, i, i + 1)).collect();
        let (offs, arena) = layout(&bufs);
        check(&bufs, &offs, arena);
        assert_eq!(arena, 2 * align_up(1000));
        assert_eq!(peak_live(&bufs).0, 2000);
    }

    #[test]
    fn random_layouts_are_valid_and_near_the_bound() {
        let mut seed = 0x2545F4914F6CDD1Du64;
        let mut next = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for _ in 0..200 {
            let n = 1 + next(40);
            let bufs: Vec<Lifetime> = (0..n)
                .map(|_| {
                    let first = next(30);
                    lt(next(5000), first, first + next(6))
                })
                .collect();
            let (offs, arena) = layout(&bufs);
            check(&bufs, &offs, arena);
            let aligned: Vec<Lifetime> = bufs.iter().map(|b| lt(align_up(b.bytes), b.first, b.last)).collect();
            assert!(arena >= peak_live(&aligned).0);
        }
    }

    #[test]
    fn pool_serves_recycled_buffers_only_inside_a_scope() {
        let pool = BufferPool::new();
        pool.set_enabled(true);
        recycle(vec![1.0f32; 100]); // no scope: dropped
        {
            let _s = pool.enter();
            let v = alloc::<f32>(100);
            assert_eq!(v, vec![0.0; 100]);
            let p = v.as_ptr();
            recycle(v);
            let w = alloc_for_overwrite::<f32>(100);
            assert_eq!(w.as_ptr(), p, "same buffer comes back");
            recycle(w);
            // Another dtype never gets it; a much smaller request does not either.
            let i = alloc::<i32>(100);
            assert_ne!(i.as_ptr() as usize, p as usize);
            let small = alloc::<f32>(10);
            assert_ne!(small.as_ptr(), p);
            let z = alloc::<f32>(90);
            assert_eq!(z.as_ptr(), p);
            assert!(z.iter().all(|&x| x == 0.0), "alloc zero-fills a recycled buffer");
            recycle(z);
        }
        assert_eq!(pool.held_buffers(), 1);
        let st = pool.stats();
        assert_eq!(st.reused, 2);
        pool.set_cap(100);
        assert_eq!(pool.held_buffers(), 0, "trimmed to the cap");
    }

    #[test]
    fn lean_first_run_drops_old_buffers_on_a_miss() {
        for lean in [false, true] {
            let mut free = Free { cap: usize::MAX, lean, ..Free::default() };
            for n in [1000usize, 2000, 4000] {
                free.put(n * 4, DType::F32, f32::wrap(vec![0.0; n]));
            }
            // 100 floats fit none of them (each would waste over half): a miss.
            assert!(free.take(DType::F32, 100).is_none());
            // Lean: the oldest buffer (1000 floats) went, enough to cover the 400 bytes asked.
            assert_eq!(free.bytes, if lean { 6000 * 4 } else { 7000 * 4 }, "lean = {lean}");
            assert_eq!(free.buffers(), if lean { 2 } else { 3 });
            // A hit evicts nothing.
            assert!(free.take(DType::F32, 2000).is_some());
        }
    }
}
