//! Replaying a captured graph: one request at a time ([`Replay::run_one`]: copies and the
//! graph on the compute stream), or several pipelined ([`Replay::run_many`]): request i+1's
//! upload (copy stream 0) and request i-1's download (copy stream 1) run while request i
//! computes, ordered by events.
//!
//! The graph reads its inputs from fixed device buffers and leaves its outputs at fixed
//! addresses, so a pipelined request goes through one of two *slots*: pinned host buffers and
//! device staging buffers of all inputs (and all outputs plus the index-error flag) laid out
//! back to back. Per request i in slot s = i mod 2:
//!
//! ```text
//! host:     inputs -> pin_in[s]
//! copy 0:   wait in_free[s];  pin_in[s] -> dev_in[s];  record in_ready[s]
//! compute:  wait in_ready[s]; dev_in[s] -> graph inputs; record in_free[s]; replay;
//!           wait out_free[s]; graph outputs, flag -> dev_out[s]; record out_ready[s]
//! copy 1:   wait out_ready[s]; dev_out[s] -> pin_out[s]; record out_free[s]
//! host:     (after queueing request i) wait out_free of request i-1, read its outputs
//! ```
//!
//! The host waits for request i-1 only after queueing request i, so the compute stream always
//! has the next replay queued; device-to-device copies of the inputs and outputs cost about
//! 2 x bytes / 3 TB/s, a few microseconds.

use crate::gpu::{cu_err, DevBuf, Gpu};
use crate::graph::{host_bytes, host_tensor, Event, Graph, Pinned};
use cudarc::driver::sys as drv_sys;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use zenrt_core::{DType, Error, Result, Tensor};

/// A graph output.
pub(crate) enum Staged {
    /// At a fixed device address after each replay (`bytes`: f32 for half storage, widened in
    /// the graph).
    Dev { addr: u64, bytes: usize, dtype: DType, shape: Vec<usize> },
    /// A host value (shape arithmetic): the same for every run of the signature.
    Host(Tensor),
}

/// A graph input: the fixed device buffer the graph reads, and its place in a slot.
pub(crate) struct Input {
    pub name: String,
    pub buf: Arc<DevBuf>,
    pub bytes: usize,
    off: usize,
}

/// Pinned and device buffers (and the ordering events) of one request in flight.
struct Slot {
    pin_in: Pinned,
    pin_out: Pinned,
    /// Device staging (pipelined runs only): inputs, outputs.
    dev: Option<(Arc<DevBuf>, Arc<DevBuf>)>,
    /// in_ready, in_free, out_ready, out_free.
    ev: Option<[Event; 4]>,
}

const IN_READY: usize = 0;
const IN_FREE: usize = 1;
const OUT_READY: usize = 2;
const OUT_FREE: usize = 3;

/// A captured run and what its replays need.
pub(crate) struct Replay {
    pub graph: Graph,
    inputs: Vec<Input>,
    outputs: Vec<Staged>,
    /// Offset of each output in a slot's output area (`None`: host value), and of the flag.
    out_offs: Vec<Option<usize>>,
    flag_off: usize,
    in_total: usize,
    out_total: usize,
    slots: Vec<Slot>,
    /// While split timing is on: events before the uploads, after them, after the replay,
    /// after the downloads, and the splits recorded.
    timing: Option<([Event; 4], Vec<RunSplit>)>,
}

/// Where the time of one single-request replay went, in milliseconds: `stage_ms` host wall
/// time until the last input upload was queued (the host copies into pinned memory); on the
/// device, `upload_ms` from before the first upload to after the last (waits for host pieces
/// included), `graph_ms` the replay, `download_ms` the output copies; `total_ms` the host wall
/// time of the whole call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunSplit {
    pub stage_ms: f64,
    pub upload_ms: f64,
    pub graph_ms: f64,
    pub download_ms: f64,
    pub total_ms: f64,
}

/// Bytes per piece of a threaded upload.
const STAGE_PIECE: usize = 2 << 20;

/// Threads that copy a single request's inputs into pinned memory (`ZENRT_CUDA_STAGE_THREADS`;
/// default: the available cores, at most 8): 1 copies on the calling thread and queues one
/// upload per input (sessions 5-7); 0 uploads straight from the pageable host tensors.
fn stage_threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        std::env::var("ZENRT_CUDA_STAGE_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(cores)
    })
}

fn align(n: usize) -> usize {
    n.div_ceil(256) * 256
}

/// Queues a copy of `bytes` (none when 0): host to device, device to host or device to device.
enum Copy {
    HtoD(u64, *const u8),
    DtoH(*mut u8, u64),
    DtoD(u64, u64),
}

fn copy(c: Copy, bytes: usize, stream: drv_sys::CUstream) -> Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    // SAFETY: callers pass ranges of at least `bytes` in live pinned host or device buffers
    // that stay allocated until the stream has passed the copy (the slots and the graph live in
    // the replay; every run ends with a synchronisation).
    unsafe {
        match c {
            Copy::HtoD(d, h) => drv_sys::cuMemcpyHtoDAsync_v2(d, h as *const c_void, bytes, stream),
            Copy::DtoH(h, d) => drv_sys::cuMemcpyDtoHAsync_v2(h as *mut c_void, d, bytes, stream),
            Copy::DtoD(d, s) => drv_sys::cuMemcpyDtoDAsync_v2(d, s, bytes, stream),
        }
    }
    .result()
    .map_err(|e| cu_err("async copy", e))
}

impl Replay {
    /// Lays out the slots for `inputs` (name, fixed buffer, host bytes) and `outputs`.
    pub(crate) fn new(graph: Graph, inputs: Vec<(String, Arc<DevBuf>, usize)>, outputs: Vec<Staged>) -> Replay {
        let mut in_total = 0;
        let inputs = inputs
            .into_iter()
            .map(|(name, buf, bytes)| {
                let off = in_total;
                in_total += align(bytes);
                Input { name, buf, bytes, off }
            })
            .collect();
        let mut out_total = 0;
        let out_offs = outputs
            .iter()
            .map(|o| match o {
                Staged::Dev { bytes, .. } => {
                    let off = out_total;
                    out_total += align(*bytes);
                    Some(off)
                }
                Staged::Host(_) => None,
            })
            .collect();
        let flag_off = out_total;
        out_total += 4;
        Replay { graph, inputs, outputs, out_offs, flag_off, in_total, out_total, slots: Vec::new(), timing: None }
    }

    /// Makes slot `s` (and those before it), with device staging and events when `piped`.
    fn ready(&mut self, gpu: &Gpu, s: usize, piped: bool) -> Result<()> {
        while self.slots.len() <= s {
            let slot = Slot {
                pin_in: Pinned::new(self.in_total)?,
                pin_out: Pinned::new(self.out_total)?,
                dev: None,
                ev: None,
            };
            self.slots.push(slot);
        }
        let slot = &mut self.slots[s];
        if piped && slot.dev.is_none() {
            slot.dev = Some((gpu.alloc_fixed(self.in_total)?, gpu.alloc_fixed(self.out_total)?));
        }
        if piped && slot.ev.is_none() {
            slot.ev = Some([Event::new()?, Event::new()?, Event::new()?, Event::new()?]);
        }
        Ok(())
    }

    /// The host bytes of a request's inputs, in `self.inputs` order (sizes checked).
    fn sources<'a>(&self, req: &'a [(String, Tensor)]) -> Result<Vec<&'a [u8]>> {
        self.inputs
            .iter()
            .map(|i| {
                let t = req
                    .iter()
                    .find(|(n, _)| *n == i.name)
                    .map(|(_, t)| t)
                    .ok_or_else(|| Error::MissingInput(i.name.clone()))?;
                let src = host_bytes(t)?;
                if src.len() != i.bytes {
                    return Err(Error::Invalid("CUDA graph: input size changed".into()));
                }
                Ok(src)
            })
            .collect()
    }

    /// Copies a request's input bytes into slot `s`'s pinned buffer.
    fn put(&mut self, s: usize, req: &[(String, Tensor)]) -> Result<()> {
        let srcs = self.sources(req)?;
        let dst = self.slots[s].pin_in.as_mut_slice();
        for (i, src) in self.inputs.iter().zip(srcs) {
            dst[i.off..i.off + i.bytes].copy_from_slice(src);
        }
        Ok(())
    }

    /// Puts a request's inputs on the device (into the graph's fixed buffers) with copies queued
    /// on `stream`, as [`stage_threads`] says: through slot 0's pinned buffer, large inputs in
    /// pieces that several threads copy while the main thread queues each piece's upload as
    /// soon as it is in place (the DMA overlaps the host copy); or straight from the pageable
    /// host tensors (the driver stages them).
    fn upload(&mut self, req: &[(String, Tensor)], stream: drv_sys::CUstream) -> Result<()> {
        let threads = stage_threads();
        if threads == 0 {
            for (i, src) in self.inputs.iter().zip(self.sources(req)?) {
                copy(Copy::HtoD(i.buf.ptr, src.as_ptr()), i.bytes, stream)?;
            }
            return Ok(());
        }
        if threads == 1 || self.in_total < 2 * STAGE_PIECE {
            self.put(0, req)?;
            let pin_in = self.slots[0].pin_in.ptr();
            for i in &self.inputs {
                // SAFETY (pointer offset): `off + bytes` lies within the slot's input area.
                copy(Copy::HtoD(i.buf.ptr, unsafe { pin_in.add(i.off) }), i.bytes, stream)?;
            }
            return Ok(());
        }
        let srcs = self.sources(req)?;
        let base = self.slots[0].pin_in.ptr() as usize;
        let pin_in = self.slots[0].pin_in.as_mut_slice();
        // (source, pinned destination) per piece, in upload order
        let mut pieces: Vec<(&[u8], &mut [u8])> = Vec::new();
        // (bytes, pinned address, device address) per piece, for the uploads
        let mut plan: Vec<(usize, usize, u64)> = Vec::new();
        let mut rest = pin_in;
        let mut at = 0;
        for (i, src) in self.inputs.iter().zip(srcs) {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(i.off - at);
            let (mut area, tail) = tail.split_at_mut(i.bytes);
            (rest, at) = (tail, i.off + i.bytes);
            for (k, part) in src.chunks(STAGE_PIECE).enumerate() {
                let (dst, more) = area.split_at_mut(part.len());
                area = more;
                let dev = i.buf.ptr + (k * STAGE_PIECE) as u64;
                plan.push((part.len(), base + i.off + k * STAGE_PIECE, dev));
                pieces.push((part, dst));
            }
        }
        let done: Vec<AtomicBool> = plan.iter().map(|_| AtomicBool::new(false)).collect();
        let threads = threads.min(plan.len());
        // per copying thread: (piece index, source, pinned destination)
        type Piece<'a> = (usize, &'a [u8], &'a mut [u8]);
        let mut lanes: Vec<Vec<Piece>> = (0..threads).map(|_| Vec::new()).collect();
        for (k, (src, dst)) in pieces.into_iter().enumerate() {
            lanes[k % threads].push((k, src, dst));
        }
        std::thread::scope(|sc| {
            for lane in lanes {
                let done = &done;
                sc.spawn(move || {
                    for (k, src, dst) in lane {
                        dst.copy_from_slice(src);
                        done[k].store(true, Ordering::Release);
                    }
                });
            }
            for (k, &(bytes, host, dev)) in plan.iter().enumerate() {
                while !done[k].load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                // the piece's writer is done with it: only the driver reads it from here on
                copy(Copy::HtoD(dev, host as *const u8), bytes, stream)?;
            }
            Ok(())
        })
    }

    /// The outputs in slot `s`'s pinned buffer (its copies done); an error when the run's
    /// index-error flag is set.
    fn take(&self, s: usize) -> Result<Vec<Tensor>> {
        let src = self.slots[s].pin_out.as_slice();
        if src[self.flag_off..self.flag_off + 4].iter().any(|&b| b != 0) {
            return Err(crate::exec::bad_index());
        }
        self.outputs
            .iter()
            .zip(&self.out_offs)
            .map(|(o, off)| match (o, off) {
                (Staged::Dev { bytes, dtype, shape, .. }, Some(off)) => host_tensor(*dtype, shape.clone(), |b| {
                    if b.len() != *bytes {
                        return Err(Error::Invalid("CUDA graph: output size".into()));
                    }
                    b.copy_from_slice(&src[*off..*off + bytes]);
                    Ok(())
                }),
                (Staged::Host(t), _) => Ok(t.clone()),
                _ => Err(Error::Invalid("CUDA graph: output layout".into())),
            })
            .collect()
    }

    /// The output copies (device address, bytes, offset in a slot), the flag last.
    fn out_copies(&self, flag: u64) -> impl Iterator<Item = (u64, usize, usize)> + '_ {
        self.outputs
            .iter()
            .zip(&self.out_offs)
            .filter_map(|(o, off)| match (o, off) {
                (Staged::Dev { addr, bytes, .. }, Some(off)) => Some((*addr, *bytes, *off)),
                _ => None,
            })
            .chain(std::iter::once((flag, 4, self.flag_off)))
    }

    /// One request on the compute stream: inputs up, one replay, outputs down, one sync. The
    /// caller holds the lane's run lock with the context bound.
    pub(crate) fn run_one(&mut self, gpu: &Gpu, req: &[(String, Tensor)]) -> Result<Vec<Tensor>> {
        let t0 = Instant::now();
        self.ready(gpu, 0, false)?;
        let mark = |me: &Replay, k: usize| match &me.timing {
            Some((ev, _)) => ev[k].record(gpu.stream),
            None => Ok(()),
        };
        mark(self, 0)?;
        let up = self.upload(req, gpu.stream);
        let staged = t0.elapsed();
        if let Err(e) = up {
            gpu.sync()?; // nothing left in flight on the slot
            return Err(e);
        }
        mark(self, 1)?;
        gpu.launch_graph(&self.graph)?;
        mark(self, 2)?;
        let pin_out = self.slots[0].pin_out.ptr();
        for (addr, bytes, off) in self.out_copies(gpu.bad_flag()) {
            // SAFETY (pointer offset): within the slot's output area.
            copy(Copy::DtoH(unsafe { pin_out.add(off) }, addr), bytes, gpu.stream)?;
        }
        mark(self, 3)?;
        gpu.sync()?;
        let outs = self.take(0);
        if let Some((ev, splits)) = &mut self.timing {
            splits.push(RunSplit {
                stage_ms: staged.as_secs_f64() * 1e3,
                upload_ms: ev[1].ms_since(&ev[0])?,
                graph_ms: ev[2].ms_since(&ev[1])?,
                download_ms: ev[3].ms_since(&ev[2])?,
                total_ms: t0.elapsed().as_secs_f64() * 1e3,
            });
        }
        outs
    }

    /// Starts (`true`: timed events made) or stops recording a [`RunSplit`] per `run_one`.
    pub(crate) fn set_split_timing(&mut self, on: bool) -> Result<()> {
        self.timing = match on {
            true => Some(([Event::timed()?, Event::timed()?, Event::timed()?, Event::timed()?], Vec::new())),
            false => None,
        };
        Ok(())
    }

    /// The splits recorded since timing was turned on (cleared).
    pub(crate) fn take_splits(&mut self) -> Vec<RunSplit> {
        self.timing.as_mut().map(|(_, v)| std::mem::take(v)).unwrap_or_default()
    }

    /// Device milliseconds of `iters` replays of the graph alone, one sample each: the inputs
    /// stay in the graph's device buffers (from the last run) and the outputs on the device,
    /// which is what a caller with device-resident tensors would wait for.
    pub(crate) fn time_resident(&self, gpu: &Gpu, iters: usize) -> Result<Vec<f64>> {
        let (a, b) = (Event::timed()?, Event::timed()?);
        (0..iters)
            .map(|_| {
                a.record(gpu.stream)?;
                gpu.launch_graph(&self.graph)?;
                b.record(gpu.stream)?;
                b.sync()?;
                b.ms_since(&a)
            })
            .collect()
    }

    /// Several requests pipelined over the compute stream and the two copy streams (see the
    /// module notes); the results equal [`Replay::run_one`]'s, in order. The caller holds the
    /// lane's run lock with the context bound.
    pub(crate) fn run_many(&mut self, gpu: &Gpu, reqs: &[&[(String, Tensor)]]) -> Result<Vec<Vec<Tensor>>> {
        for s in 0..reqs.len().min(2) {
            self.ready(gpu, s, true)?;
        }
        let mut outs = Vec::with_capacity(reqs.len());
        let r = self.pipeline(gpu, reqs, &mut outs);
        if r.is_err() {
            // leave nothing in flight on the slots' buffers
            for s in [gpu.stream, gpu.copy[0], gpu.copy[1]] {
                // SAFETY: the lane's own streams.
                let _ = unsafe { drv_sys::cuStreamSynchronize(s) };
            }
        }
        r.map(|_| outs)
    }

    fn pipeline(&mut self, gpu: &Gpu, reqs: &[&[(String, Tensor)]], outs: &mut Vec<Vec<Tensor>>) -> Result<()> {
        let (up, cs, down) = (gpu.copy[0], gpu.stream, gpu.copy[1]);
        let out_free = |me: &Replay, s: usize| -> Result<()> {
            match &me.slots[s].ev {
                Some(ev) => ev[OUT_FREE].sync(),
                None => Err(Error::Invalid("CUDA pipeline: slot without events".into())),
            }
        };
        for (i, req) in reqs.iter().enumerate() {
            let s = i % 2;
            // slot s's last upload (request i-2) is done: the host waited for its download
            self.put(s, req)?;
            let slot = &self.slots[s];
            let (Some((dev_in, dev_out)), Some(ev)) = (&slot.dev, &slot.ev) else {
                return Err(Error::Invalid("CUDA pipeline: slot not ready".into()));
            };
            ev[IN_FREE].wait_on(up)?;
            copy(Copy::HtoD(dev_in.ptr, slot.pin_in.ptr()), self.in_total, up)?;
            ev[IN_READY].record(up)?;
            ev[IN_READY].wait_on(cs)?;
            for inp in &self.inputs {
                copy(Copy::DtoD(inp.buf.ptr, dev_in.ptr + inp.off as u64), inp.bytes, cs)?;
            }
            ev[IN_FREE].record(cs)?;
            gpu.launch_graph(&self.graph)?;
            ev[OUT_FREE].wait_on(cs)?;
            for (addr, bytes, off) in self.out_copies(gpu.bad_flag()) {
                copy(Copy::DtoD(dev_out.ptr + off as u64, addr), bytes, cs)?;
            }
            ev[OUT_READY].record(cs)?;
            ev[OUT_READY].wait_on(down)?;
            copy(Copy::DtoH(slot.pin_out.ptr(), dev_out.ptr), self.out_total, down)?;
            ev[OUT_FREE].record(down)?;
            if i > 0 {
                let p = (i - 1) % 2;
                out_free(self, p)?;
                outs.push(self.take(p)?);
            }
        }
        if let Some(last) = reqs.len().checked_sub(1) {
            out_free(self, last % 2)?;
            outs.push(self.take(last % 2)?);
        }
        Ok(())
    }
}
