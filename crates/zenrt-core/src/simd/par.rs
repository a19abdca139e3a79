//! Splitting large kernels over the current thread pool ([`crate::threads`]). Work below
//! [`MIN_CHUNK`] elements per thread stays on the calling thread, so small tensors never pay for a
//! fork/join. The pool is the one the running plan set (sized by `--threads`).

use crate::threads;

/// Smallest number of output elements worth handing to another thread.
pub const MIN_CHUNK: usize = 32 * 1024;

/// How many pieces to cut `n` units of work into (1 when it is small or the pool has one thread).
/// `unit_cost` is the number of elements per unit (a row of `unit_cost` elements, say).
pub fn pieces(n: usize, unit_cost: usize) -> usize {
    let threads = threads::current();
    if threads <= 1 || n < 2 {
        return 1;
    }
    let total = n.saturating_mul(unit_cost.max(1));
    (total / MIN_CHUNK).clamp(1, threads * 4).min(n)
}

/// Runs `f(start, chunk)` over consecutive chunks of `out` (a multiple of `align` long, except
/// the last), in parallel when `out` is large.
pub fn for_chunks<T: Send>(out: &mut [T], align: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let align = align.max(1);
    let units = out.len() / align;
    let p = pieces(units, align);
    if p <= 1 {
        f(0, out);
        return;
    }
    let per = units.div_ceil(p) * align;
    threads::for_each_chunk(out, per, |i, c| f(i * per, c));
}

/// Runs `f(row_index, row)` for every `row_len`-long row of `out`, rows split over threads
/// when `out` is large.
pub fn for_rows<T: Send>(out: &mut [T], row_len: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if row_len == 0 {
        return;
    }
    for_chunks(out, row_len, |start, chunk| {
        for (i, row) in chunk.chunks_mut(row_len).enumerate() {
            f(start / row_len + i, row);
        }
    });
}

/// Like [`for_rows`], with one `aux` item per row handed to `f` too (per-row statistics).
pub fn for_rows_with<T: Send, U: Send>(
    out: &mut [T],
    row_len: usize,
    aux: &mut [U],
    f: impl Fn(usize, &mut [T], &mut U) + Sync,
) {
    if row_len == 0 {
        return;
    }
    let rows = (out.len() / row_len).min(aux.len());
    let run = |first: usize, o: &mut [T], a: &mut [U]| {
        for (i, (row, s)) in o.chunks_mut(row_len).zip(a.iter_mut()).enumerate() {
            f(first + i, row, s);
        }
    };
    let p = pieces(rows, row_len);
    if p <= 1 {
        run(0, out, aux);
        return;
    }
    let per = rows.div_ceil(p);
    threads::for_each_chunk_zip(out, per * row_len, aux, per, |i, o, a| run(i * per, o, a));
}
