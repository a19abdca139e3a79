//! The one checked GEMM entry point of the kernels: `C[m×n] = alpha·A[m×k]·B[k×n] + beta·C`
//! with explicit strides and an optional epilogue (per-row or per-column bias, then an
//! [`Activation`]). Every extent is checked before any unsafe code runs, so a bad shape is an
//! error, not UB.
//!
//! f32 runs on our own packed, cache-blocked, multi-threaded GEMM ([`sgemm`]): BLIS-style
//! blocking (`KC` × `MC` × `NC`), operands packed into k-major panels (or pre-packed once at
//! plan time, [`PackedMat`]), an AVX-512 / AVX2+FMA / portable micro-kernel chosen at run time
//! ([`kernels::best`]), parallel over output tiles in the installed thread pool
//! ([`crate::threads`]). f64 goes through `matrixmultiply`. See `docs/kernels.md`.

pub mod blocking;
pub mod kernels;
pub mod pack;
pub mod small;

pub use kernels::Kernel;
pub use pack::{PackSrc, PackedMat, Strided};

use crate::ops::fused::Activation;
use crate::{bail, ensure, Elem, Result};
use blocking::Blocking;
use kernels::BlockEp;
use std::cell::RefCell;

/// Depth of one K block for the fallback caches. The blocks in use are derived at run time from
/// this machine's caches ([`blocking::for_kernel`]); a [`PackedMat`] records its own.
pub const KC: usize = 256;

/// A GEMM operand: packed on the fly from a source, or pre-packed.
#[derive(Clone, Copy)]
pub enum Operand<'a> {
    Src(&'a dyn PackSrc),
    Packed(&'a PackedMat),
    /// A right operand read where it lies by kernels that can ([`Kernel::direct`]); packed like
    /// any source otherwise.
    Rows(Rows<'a>),
}

/// A row-major `k × n` matrix, rows `ld` apart, columns contiguous (a 1×1 conv's NCHW input), checked
/// when built.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    data: &'a [f32],
    k: usize,
    n: usize,
    ld: usize,
}

impl<'a> Rows<'a> {
    /// Checks that every row's `n` values lie inside `data`.
    pub fn new(data: &'a [f32], k: usize, n: usize, ld: usize) -> Result<Rows<'a>> {
        ensure!(
            k == 0 || n == 0 || (k - 1).checked_mul(ld).and_then(|o| o.checked_add(n)).is_some_and(|e| e <= data.len()),
            "internal: gemm operand rows out of bounds"
        );
        Ok(Rows { data, k, n, ld })
    }

    /// The same matrix as a packing source.
    pub fn strided(&self) -> Strided<'a> {
        // SAFETY of the view: `new` checked the extent.
        Strided::new(self.data, self.k, self.n, self.ld, 1).expect("checked in Rows::new")
    }
}

impl Operand<'_> {
    fn k(&self) -> usize {
        match self {
            Operand::Src(s) => s.k(),
            Operand::Packed(p) => p.k,
            Operand::Rows(r) => r.k,
        }
    }
    fn other(&self) -> usize {
        match self {
            Operand::Src(s) => s.other(),
            Operand::Packed(p) => p.other,
            Operand::Rows(r) => r.n,
        }
    }
    fn is_packed(&self) -> bool {
        matches!(self, Operand::Packed(_))
    }
    /// Whether a task packs this operand itself (not pre-packed, not read where it lies).
    fn packs(&self) -> bool {
        matches!(self, Operand::Src(_))
    }
}

/// A bias added to every output row (one value per column) or column (one per row).
#[derive(Clone, Copy, Debug, Default)]
pub enum Bias<'a> {
    #[default]
    None,
    /// `bias[i]` added to row `i` (`m` values): conv channels.
    PerRow(&'a [f32]),
    /// `bias[j]` added to column `j` (`n` values): Gemm/MatMul biases.
    PerCol(&'a [f32]),
}

/// What happens to each output after the product: `act(alpha·A·B + beta·C + bias)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    pub bias: Bias<'a>,
    pub act: Activation,
    /// `z` in `act(A·B + bias + z)`: laid out like C (`row * rsc + col`), read as the tiles are
    /// written (no copy of it into C first). Only with `beta == 0`.
    pub residual: Option<&'a [f32]>,
}

/// The raw output pointer, shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint output tiles (see `sgemm`), so sharing the pointer is sound.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

struct Ctx<'a> {
    kern: &'static Kernel,
    m: usize,
    n: usize,
    k: usize,
    a: Operand<'a>,
    b: Operand<'a>,
    c: OutPtr,
    rsc: usize,
    ep: BlockEp<'a>,
    /// The activation applied after the kernel's store, as a vector map (Sigmoid, SiLU, ...).
    post: Option<crate::simd::UnaryFn>,
    blk: Blocking,
    /// The K block: a pre-packed operand's, else `blk.kc`.
    kc: usize,
    /// L2 size in bytes (chooses the loop order of a block).
    l2: usize,
}

thread_local! {
    static BUFS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

thread_local! {
    /// The B operand packed once for all threads of a product ([`Grid::share_b`]).
    static SHARED_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Computes output rows `m0..m1` × columns `n0..n1` (`m0` a multiple of `mr`, `n0` of `nr`).
fn run_task(cx: &Ctx, m0: usize, m1: usize, n0: usize, n1: usize) {
    let (mr, nr) = (cx.kern.mr, cx.kern.nr);
    let Blocking { mc: mc_max, nc: nc_max, .. } = cx.blk;
    let kc_max = cx.kc;
    // A B block serves every A block of the task. With one A block (conv weights, packed ahead of
    // time, of at most `mc` rows) nothing reuses it, so keep it small enough to stay in L2 between
    // its packing and its use, instead of a multi-MiB block written to L3 and read back.
    // With `ZENRT_GEMM_ROW_ORDER=1`, a task whose C does not fit in L2 writes it one A micro-panel
    // (`mr` row streams) at a time over L2-sized B blocks, instead of `mc` rows at once per B
    // micro-panel. Off by default: 8–15% faster on ResNet-50's 56×56 1×1 convs at batch 8 alone,
    // level on the whole model (docs/kernels.md, "Session 10 (lead)").
    let row_order = ROW_ORDER.on() && (m1 - m0) * (n1 - n0) * 4 > cx.l2;
    let nc_max = if row_order {
        (cx.l2 / 2 / (4 * kc_max) / nr * nr).clamp(4 * nr, nc_max.max(4 * nr))
    } else if L2_B_BLOCK.on() && cx.a.is_packed() && cx.b.packs() && m1 - m0 <= mc_max {
        (cx.l2 / 4 / (4 * kc_max) / nr * nr).clamp(4 * nr, nc_max.max(4 * nr))
    } else {
        nc_max
    };
    let (mut abuf, mut bbuf) = BUFS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let mut jc = n0;
    while jc < n1 {
        let nc = nc_max.min(n1 - jc);
        let npan = nc.div_ceil(nr);
        let mut pc = 0;
        while pc < cx.k {
            let kc = kc_max.min(cx.k - pc);
            // B read where it lies: the block's first element and its row stride (`sgemm` passes
            // a rows operand only to kernels with a direct form, as a packing source otherwise).
            let mut direct: Option<(*const f32, usize)> = None;
            let bblock: &[f32] = match cx.b {
                Operand::Packed(p) => p.block_from(pc, kc, jc / nr),
                Operand::Rows(r) => {
                    direct = Some((r.data[pc * r.ld + jc..].as_ptr(), r.ld));
                    &[]
                }
                Operand::Src(s) => {
                    grow(&mut bbuf, npan * kc * nr);
                    for q in 0..npan {
                        let t0 = jc + q * nr;
                        s.pack(pc, kc, t0, nr.min(n1 - t0), nr, &mut bbuf[q * kc * nr..(q + 1) * kc * nr]);
                    }
                    &bbuf
                }
            };
            let (first, last) = (pc == 0, pc + kc == cx.k);
            // Short K blocks (1×1 convs with few channels) are bound by writing C, not by the
            // FMAs: when the B block fits in half of L2, sweep it once per A micro-panel, so C is
            // written as `mr` row streams, one tile after another, instead of `mc` rows at once.
            // (With long K blocks the classic order, B micro-panel in L1, reads less from L2.)
            let b_in_l2 = row_order || (kc <= 128 && kc * nc * 4 <= cx.l2 / 2);
            let mut ic = m0;
            while ic < m1 {
                let mc = mc_max.min(m1 - ic);
                let mpan = mc.div_ceil(mr);
                let ablock: &[f32] = match cx.a {
                    Operand::Packed(p) => p.block_from(pc, kc, ic / mr),
                    Operand::Src(s) => {
                        grow(&mut abuf, mpan * kc * mr);
                        for q in 0..mpan {
                            let t0 = ic + q * mr;
                            s.pack(pc, kc, t0, mr.min(m1 - t0), mr, &mut abuf[q * kc * mr..(q + 1) * kc * mr]);
                        }
                        &abuf
                    }
                    // `sgemm` turns a rows left operand into a packing source.
                    Operand::Rows(_) => unreachable!("gemm: rows operand on the left"),
                };
                let tile = |q: usize, pi: usize| {
                    let (col, row) = (jc + q * nr, ic + pi * mr);
                    let (nr_eff, mr_eff) = (nr.min(n1 - col), mr.min(m1 - row));
                    let ap = ablock[pi * kc * mr..(pi + 1) * kc * mr].as_ptr();
                    let ep = cx.ep.tile(row, col, first, last);
                    // SAFETY: the panels hold `kc` steps of `mr`/`nr` values (sliced above); a B
                    // read where it lies has `kc` rows of `nr_eff` values from this tile's column
                    // (checked by `Rows::new`; the direct kernel reads nothing past them); the
                    // tile `row..row+mr_eff` × `col..col+nr_eff` lies inside C (checked by
                    // `sgemm`) and belongs to this task only; bias and residual pointers have
                    // `mr_eff`/`nr_eff` values from `row`/`col` (lengths checked by `sgemm`).
                    unsafe {
                        let c = cx.c.0.add(row * cx.rsc + col);
                        match (direct, cx.kern.direct) {
                            (Some((b0, ld)), Some(f)) => f(kc, ap, b0.add(q * nr), ld, c, cx.rsc, mr_eff, nr_eff, &ep),
                            _ => {
                                let bp = bblock[q * kc * nr..(q + 1) * kc * nr].as_ptr();
                                (cx.kern.f)(kc, ap, bp, nr, c, cx.rsc, mr_eff, nr_eff, &ep)
                            }
                        }
                        if let (true, Some(f)) = (last, cx.post) {
                            crate::simd::map_rows_inplace(f, c, mr_eff, nr_eff, cx.rsc);
                        }
                    }
                };
                if b_in_l2 {
                    (0..mpan).for_each(|pi| (0..npan).for_each(|q| tile(q, pi)));
                } else {
                    (0..npan).for_each(|q| (0..mpan).for_each(|pi| tile(q, pi)));
                }
                ic += mc;
            }
            pc += kc;
        }
        jc += nc;
    }
    BUFS.with(|b| *b.borrow_mut() = (abuf, bbuf));
}

pub(crate) use crate::tuning::Switch;

pub(crate) static SHARED_B_SPLIT: Switch = Switch::new("ZENRT_GEMM_SHARED_B", false);
/// `ZENRT_GEMM_L2_B=1`: L2-sized B blocks for a task with one packed A block ([`run_task`]); off.
pub(crate) static L2_B_BLOCK: Switch = Switch::new("ZENRT_GEMM_L2_B", false);

/// Row order for tasks whose C exceeds L2 ([`run_task`]): B blocks of half the L2, swept once per
/// A micro-panel. Off unless `ZENRT_GEMM_ROW_ORDER=1`.
pub(crate) static ROW_ORDER: Switch = Switch::new("ZENRT_GEMM_ROW_ORDER", false);

/// A half-open `(start, end)` range of rows or columns.
type Range = (usize, usize);

/// Splits `parts` panels into `g` nearly equal groups; returns element ranges (panel width `r`,
/// total extent `len`).
fn split(len: usize, r: usize, g: usize) -> Vec<Range> {
    let parts = len.div_ceil(r);
    (0..g).map(|i| ((i * parts / g * r).min(len), ((i + 1) * parts / g * r).min(len))).filter(|(a, b)| a < b).collect()
}

/// How a product is cut into tasks: row ranges × column ranges, and whether B (when not pre-packed)
/// is packed once by all threads before the tasks start, instead of by each task for its columns.
struct Grid {
    ms: Vec<Range>,
    ns: Vec<Range>,
    share_b: bool,
}

/// Cycles the threads take to start on a parallel region (their wake-up): a cost-model constant.
const WAKE: f64 = 3000.0;

/// Estimated cycles of one task of `rows × cols` (a cost model to compare splits, not a
/// prediction): the padded tiles' FMAs at 16 lanes a cycle, the operands it packs itself (about
/// half a cycle an element: A once per column block, B once unless shared), and a fixed cost.
fn task_cost(cx: &Ctx, rows: usize, cols: usize, share_b: bool) -> f64 {
    let (mr, nr, k) = (cx.kern.mr, cx.kern.nr, cx.k as f64);
    let tiles = (rows.div_ceil(mr) * mr * cols.div_ceil(nr) * nr) as f64;
    let pack_a = if cx.a.is_packed() { 0.0 } else { (rows * cols.div_ceil(cx.blk.nc)) as f64 * k };
    let pack_b = if !cx.b.packs() || share_b { 0.0 } else { cols as f64 * k };
    tiles * k / 16.0 + 0.5 * (pack_a + pack_b) + 2000.0
}

/// The makespan of `g` on `threads` threads taking tasks in order, each the next task when it is
/// free (how `threads::for_each_task` hands them out); the workers start a little after the caller.
/// A shared B is packed first, split evenly over the threads, one wake-up more.
fn makespan(cx: &Ctx, g: &Grid, threads: usize) -> f64 {
    let start = if g.share_b { 0.5 * (cx.k * cx.n) as f64 / threads as f64 + WAKE } else { 0.0 };
    let mut busy: Vec<f64> = (0..threads).map(|t| start + if t == 0 { 0.0 } else { WAKE }).collect();
    for &(m0, m1) in &g.ms {
        for &(n0, n1) in &g.ns {
            if let Some(t) = busy.iter_mut().min_by(|a, b| a.total_cmp(b)) {
                *t += task_cost(cx, m1 - m0, n1 - n0, g.share_b);
            }
        }
    }
    busy.into_iter().fold(0.0, f64::max)
}

/// With [`SHARED_B_SPLIT`] on, chooses the grid (at most 4 tasks per thread, aligned to the tile;
/// B shared or packed per task) with the smallest estimated makespan: equal-cost pieces, and as little duplicated
/// packing as possible (B is packed again by every M group unless shared, A by every N group).
fn partition(cx: &Ctx, threads: usize) -> Grid {
    let (mr, nr) = (cx.kern.mr, cx.kern.nr);
    let work = cx.m.saturating_mul(cx.n).saturating_mul(cx.k);
    let whole = Grid { ms: vec![(0, cx.m)], ns: vec![(0, cx.n)], share_b: false };
    if threads <= 1 || work < 1 << 20 {
        return whole;
    }
    if !SHARED_B_SPLIT.on() {
        return partition_fewest_packings(cx, threads);
    }
    let (mb, nb, most) = (cx.m.div_ceil(mr), cx.n.div_ceil(nr), 4 * threads);
    let mut best = (makespan(cx, &whole, threads), whole);
    for share_b in [false, true] {
        // A shared B is a whole packed copy, kept by the calling thread: at most 16 MiB.
        if share_b && (!cx.b.packs() || cx.k.saturating_mul(nb * nr) > 1 << 22) {
            continue;
        }
        for tm in 1..=mb.min(most) {
            for tn in 1..=nb.min(most / tm) {
                let g = Grid { ms: split(cx.m, mr, tm), ns: split(cx.n, nr, tn), share_b };
                let t = makespan(cx, &g, threads);
                if t < best.0 {
                    best = (t, g);
                }
            }
        }
    }
    best.1
}

/// The split of sessions 5–7 (`ZENRT_GEMM_SHARED_B=0`): about 4 tasks per thread, the grid
/// duplicating the least packing (B repacked per M group, A per N group), B never shared.
fn partition_fewest_packings(cx: &Ctx, threads: usize) -> Grid {
    let (mr, nr) = (cx.kern.mr, cx.kern.nr);
    let (mb, nb) = (cx.m.div_ceil(mr), cx.n.div_ceil(nr));
    let target = (4 * threads).min(mb * nb).max(1);
    let mut best = (usize::MAX, 1, 1);
    for tm in 1..=mb.min(target) {
        let tn = target.div_ceil(tm).min(nb);
        if tm * tn < threads.min(mb * nb) {
            continue;
        }
        let dup_b = if !cx.b.packs() { 0 } else { (tm - 1) * cx.n };
        let dup_a = if cx.a.is_packed() { 0 } else { (tn - 1) * cx.m };
        let cost = dup_a + dup_b + (tm * tn).abs_diff(target);
        if cost < best.0 {
            best = (cost, tm, tn);
        }
    }
    Grid { ms: split(cx.m, mr, best.1), ns: split(cx.n, nr, best.2), share_b: false }
}

/// Runs the grid's tasks over the current pool.
fn run_grid(cx: &Ctx, g: &Grid) {
    crate::threads::for_each_task(g.ms.len() * g.ns.len(), |t| {
        let ((m0, m1), (n0, n1)) = (g.ms[t / g.ns.len()], g.ns[t % g.ns.len()]);
        run_task(cx, m0, m1, n0, n1)
    });
}

/// `C = act(alpha·A·B + beta·C + bias)` in f32 on kernel `kern`. A is `m×k` (`a.other() == m`),
/// B is `k×n`; C has row stride `rsc` and column stride `csc`. `beta == 0` never reads C.
/// Runs in parallel over output tiles when a thread pool is installed.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    kern: &'static Kernel,
    alpha: f32,
    a: Operand,
    b: Operand,
    beta: f32,
    c: &mut [f32],
    rsc: usize,
    csc: usize,
    ep: &Epilogue,
) -> Result<()> {
    let (m, n, k) = (a.other(), b.other(), a.k());
    ensure!(b.k() == k, "internal: gemm operands disagree on K ({k} vs {})", b.k());
    for (op, r, what) in [(&a, kern.mr, "lhs"), (&b, kern.nr, "rhs")] {
        if let Operand::Packed(p) = op {
            ensure!(p.r == r, "internal: gemm {what} packed for panel width {}, kernel {} needs {r}", p.r, kern.name);
        }
    }
    let Some(cmax) = max_offset(m, n, rsc, csc) else { return Ok(()) };
    ensure!(cmax < c.len(), "internal: gemm output out of bounds");
    let (row_bias, col_bias) = match ep.bias {
        Bias::None => (None, None),
        Bias::PerRow(b) => (Some(b), None),
        Bias::PerCol(b) => (None, Some(b)),
    };
    ensure!(row_bias.is_none_or(|b| b.len() >= m), "internal: gemm row bias shorter than {m}");
    ensure!(col_bias.is_none_or(|b| b.len() >= n), "internal: gemm column bias shorter than {n}");
    if let Some(z) = ep.residual {
        ensure!(beta == 0.0, "internal: gemm residual with beta {beta}");
        ensure!(cmax < z.len(), "internal: gemm residual shorter than the output");
    }
    // Paths without a B read where it lies or a residual in the tile epilogue see the same
    // product through a packing source and `beta·C` (C starts as a copy of the residual).
    let (rows_a, rows_b) = (rows_of(&a), rows_of(&b));
    let a = rows_a.as_ref().map_or(a, |s| Operand::Src(s));
    let small_path = matches!(a, Operand::Src(_))
        && small::applies(m, false, if let Operand::Packed(p) = b { Some(p.r) } else { None }, kern);
    let general = k == 0 || csc != 1 || (m > 1 && rsc < n);
    let b = match &rows_b {
        Some(s) if small_path || general || kern.direct.is_none() => Operand::Src(s),
        _ => b,
    };
    if let (Some(z), true) = (ep.residual, small_path || general) {
        for i in 0..m {
            for j in 0..n {
                c[i * rsc + j * csc] = z[i * rsc + j * csc];
            }
        }
        return sgemm(kern, alpha, a, b, 1.0, c, rsc, csc, &Epilogue { residual: None, ..*ep });
    }
    if general {
        return sgemm_general(kern, alpha, a, b, beta, c, rsc, csc, ep);
    }
    let (clamp, post) = match ep.act {
        Activation::None => (None, Activation::None),
        Activation::Relu => (Some((0.0, f32::INFINITY)), Activation::None),
        Activation::Clip(lo, hi) => (Some((lo, hi)), Activation::None),
        act => (None, act),
    };
    let bep = BlockEp { alpha, beta, row_bias, col_bias, clamp, post, res: ep.residual, rsc };
    log_shape(m, n, k, &a, &b);
    if let (Operand::Src(sa), true) = (a, small_path) {
        let (bp, bs) = match b {
            Operand::Packed(p) => (Some(p), None),
            Operand::Src(s) => (None, Some(s)),
            Operand::Rows(_) => bail!("internal: gemm rows operand on the small path"),
        };
        small::sgemm_small(kern, sa, bp, bs, c, rsc, bep);
        return Ok(());
    }
    let blk = blocking::for_kernel(kern.mr, kern.nr);
    let kcs: Vec<usize> =
        [a, b].iter().filter_map(|o| if let Operand::Packed(p) = o { Some(p.kc()) } else { None }).collect();
    ensure!(kcs.windows(2).all(|w| w[0] == w[1]), "internal: gemm operands packed with different K blocks");
    let kc = kcs.first().copied().unwrap_or(blk.kc);
    let post = bep.post.simd_f32();
    let l2 = blocking::caches().l2;
    let cx = Ctx { kern, m, n, k, a, b, c: OutPtr(c.as_mut_ptr()), rsc, ep: bep, post, blk, kc, l2 };
    let grid = partition(&cx, crate::threads::current());
    match b {
        Operand::Src(sb) if grid.share_b => {
            // B packed once, by all threads, into a buffer this thread keeps between products.
            let pb = PackedMat::pack_into(sb, kern.nr, kc, SHARED_B.with(|v| std::mem::take(&mut *v.borrow_mut())));
            run_grid(&Ctx { b: Operand::Packed(&pb), ..cx }, &grid);
            SHARED_B.with(|v| *v.borrow_mut() = pb.into_buffer());
        }
        _ => run_grid(&cx, &grid),
    }
    Ok(())
}

/// A rows operand as a packing source (for the paths that pack it).
fn rows_of<'a>(o: &Operand<'a>) -> Option<Strided<'a>> {
    match o {
        Operand::Rows(r) => Some(r.strided()),
        _ => None,
    }
}

/// With `ZENRT_GEMM_LOG=1`, one stderr line per product: `zenrt-gemm m n k a b threads`, `a`/`b`
/// being `packed` or `src` (for the shape tables of `scripts/gemm_ceiling.py --log`).
fn log_shape(m: usize, n: usize, k: usize, a: &Operand, b: &Operand) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var("ZENRT_GEMM_LOG").is_ok_and(|v| v == "1")) {
        let kind = |o: &Operand| match o {
            Operand::Packed(_) => "packed",
            Operand::Src(_) => "src",
            Operand::Rows(_) => "rows",
        };
        eprintln!("zenrt-gemm {m} {n} {k} {} {} {}", kind(a), kind(b), crate::threads::current());
    }
}

/// K = 0 or an unusual output layout: product into a contiguous buffer, then the epilogue.
#[allow(clippy::too_many_arguments)]
fn sgemm_general(
    kern: &'static Kernel,
    alpha: f32,
    a: Operand,
    b: Operand,
    beta: f32,
    c: &mut [f32],
    rsc: usize,
    csc: usize,
    ep: &Epilogue,
) -> Result<()> {
    let (m, n) = (a.other(), b.other());
    let mut t = crate::memory::alloc::<f32>(m * n);
    if a.k() > 0 {
        sgemm(kern, alpha, a, b, 0.0, &mut t, n, 1, &Epilogue::default())?;
    }
    for i in 0..m {
        for j in 0..n {
            let dst = &mut c[i * rsc + j * csc];
            let mut v = t[i * n + j] + if beta == 0.0 { 0.0 } else { beta * *dst };
            v += match ep.bias {
                Bias::None => 0.0,
                Bias::PerRow(b) => b[i],
                Bias::PerCol(b) => b[j],
            };
            *dst = v;
        }
        if csc == 1 {
            ep.act.apply_f32(&mut c[i * rsc..i * rsc + n]);
        } else {
            for j in 0..n {
                let v = &mut c[i * rsc + j * csc];
                *v = ep.act.eval(*v as f64) as f32;
            }
        }
    }
    Ok(())
}

/// Float element types with a GEMM kernel (f32 on [`sgemm`], f64 on `matrixmultiply`).
pub trait GemmFloat:
    Elem + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + std::ops::AddAssign + std::ops::Sub<Output = Self>
{
    /// `C = A·B + beta·C` on checked views (see [`gemm`]); the default runs [`GemmFloat::gemm_raw`].
    #[allow(clippy::too_many_arguments)]
    fn gemm_checked(
        m: usize,
        k: usize,
        n: usize,
        a: Mat<Self>,
        b: Mat<Self>,
        beta: Self,
        c: &mut [Self],
        rsc: usize,
        csc: usize,
    ) -> Result<()> {
        generic_gemm(m, k, n, a, b, beta, c, rsc, csc)
    }

    /// # Safety
    /// Every element the strides address must lie inside the allocations behind `a`, `b` and
    /// `c`, and `c` must not overlap `a` or `b` (use [`gemm`], which checks this).
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_gemm_float {
    ($t:ty, $f:path) => {
        impl GemmFloat for $t {
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                a: *const $t,
                rsa: isize,
                csa: isize,
                b: *const $t,
                rsb: isize,
                csb: isize,
                beta: $t,
                c: *mut $t,
                rsc: isize,
                csc: isize,
            ) {
                $f(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
            }
        }
    };
}
impl_gemm_float!(f64, matrixmultiply::dgemm);

impl GemmFloat for f32 {
    fn gemm_checked(
        m: usize,
        k: usize,
        n: usize,
        a: Mat<f32>,
        b: Mat<f32>,
        beta: f32,
        c: &mut [f32],
        rsc: usize,
        csc: usize,
    ) -> Result<()> {
        if m == 0 || n == 0 {
            return Ok(());
        }
        let sa = Strided::new(a.0, k, m, a.2, a.1)?;
        let sb = Strided::new(b.0, k, n, b.1, b.2)?;
        sgemm(kernels::best(), 1.0, Operand::Src(&sa), Operand::Src(&sb), beta, c, rsc, csc, &Epilogue::default())
    }

    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        matrixmultiply::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

/// A strided matrix view into a slice: `(slice, row stride, column stride)`.
pub type Mat<'a, T> = (&'a [T], usize, usize);

/// Highest element offset touched by a strided `rows × cols` matrix (None if empty).
fn max_offset(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        None
    } else {
        Some((rows - 1) * rs + (cols - 1) * cs)
    }
}

/// `C[m×n] = A[m×k]·B[k×n] + beta·C`, C with row stride `rsc` and column stride `csc`
/// (`beta == 0` never reads C). For alpha, pre-packed operands or an epilogue use [`sgemm`].
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: GemmFloat>(
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    beta: T,
    c: &mut [T],
    rsc: usize,
    csc: usize,
) -> Result<()> {
    T::gemm_checked(m, k, n, a, b, beta, c, rsc, csc)
}

#[allow(clippy::too_many_arguments)]
fn generic_gemm<T: GemmFloat>(
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    beta: T,
    c: &mut [T],
    rsc: usize,
    csc: usize,
) -> Result<()> {
    let Some(cmax) = max_offset(m, n, rsc, csc) else { return Ok(()) };
    ensure!(cmax < c.len(), "internal: gemm output out of bounds");
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                let v = &mut c[i * rsc + j * csc];
                *v = if beta == T::zero() { T::zero() } else { *v * beta };
            }
        }
        return Ok(());
    }
    let ((av, rsa, csa), (bv, rsb, csb)) = (a, b);
    ensure!(max_offset(m, k, rsa, csa).is_some_and(|o| o < av.len()), "internal: gemm lhs out of bounds");
    ensure!(max_offset(k, n, rsb, csb).is_some_and(|o| o < bv.len()), "internal: gemm rhs out of bounds");
    // SAFETY: every offset touched is within the slices (checked above); `c` is a distinct
    // `&mut` borrow, so it does not alias `a` or `b`.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            av.as_ptr(),
            rsa as isize,
            csa as isize,
            bv.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            csc as isize,
        )
    }
    Ok(())
}

#[cfg(test)]
mod tests;
