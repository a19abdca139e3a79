//! The CUDA executor: runs an optimized graph, in the CPU plan's topological order, with values
//! on the device. Each value is freed (returned to the caching pool) after its last reader.

use crate::gpu::{GTensor, Gpu};
use crate::ops::{self, Cx, GpuOp, Layout, Val};
use crate::pipeline::{Replay, RunSplit, Staged};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zenrt_core::plan::{display_name, node_subgraphs};
use zenrt_core::{DType, Error, Graph as OnnxGraph, Node, Result, StepTiming, Tensor, ValueInfo};

/// Where a node runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A CUDA kernel.
    Gpu,
    /// On the host, because every input is host metadata (constants or shapes): shape arithmetic.
    HostShape,
    /// No CUDA kernel; run on the CPU because the opt-in fallback is on.
    CpuFallback(String),
    /// No CUDA kernel (the reason).
    Unsupported(String),
}

/// One node of the graph and where it would run.
#[derive(Debug, Clone)]
pub struct NodePlacement {
    pub node: String,
    pub op_type: String,
    pub placement: Placement,
}

enum Kernel {
    Gpu(Box<dyn GpuOp>),
    Host,
    Fallback,
}

struct Step {
    node: Node,
    kernel: Kernel,
    inputs: Vec<Option<usize>>,
    outputs: Vec<Option<usize>>,
    free_after: Vec<usize>,
}

/// Decides where each node (in `order`) runs; needs no GPU.
pub fn placements(graph: &OnnxGraph, order: &[Node], cpu_fallback: bool) -> Vec<NodePlacement> {
    analyze(graph, order, cpu_fallback).into_iter().map(|(p, _)| p).collect()
}

fn analyze(graph: &OnnxGraph, order: &[Node], cpu_fallback: bool) -> Vec<(NodePlacement, Option<Box<dyn GpuOp>>)> {
    let mut host: HashSet<&str> = graph.initializers.keys().map(|s| s.as_str()).collect();
    let mut out = Vec::with_capacity(order.len());
    for n in order {
        let ins: Vec<&str> = n.inputs.iter().filter(|s| !s.is_empty()).map(|s| s.as_str()).collect();
        let all_host = ins.iter().all(|i| host.contains(i)) && node_subgraphs(n).is_empty();
        let (placement, kernel) = if ops::is_shape_op(&n.op_type) {
            (Placement::Gpu, ops::build(n).ok())
        } else if all_host {
            (Placement::HostShape, None)
        } else {
            match ops::build(n) {
                Ok(k) => (Placement::Gpu, Some(k)),
                Err(e) if cpu_fallback => (Placement::CpuFallback(e), None),
                Err(e) => (Placement::Unsupported(e), None),
            }
        };
        if ops::is_shape_op(&n.op_type) || placement == Placement::HostShape {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                host.insert(o.as_str());
            }
        }
        out.push((NodePlacement { node: display_name(n), op_type: n.op_type.clone(), placement }, kernel));
    }
    out
}

/// A graph compiled for one GPU.
pub struct CudaPlan {
    gpu: Arc<Gpu>,
    nslots: usize,
    /// Initializers (slot, value). Convolution filters among them (`conv_weights`) are kept on
    /// the device in one layout at a time, the layout of the last run ([`CudaPlan::settle_weights`]).
    consts: Mutex<Vec<(usize, Val)>>,
    /// Indices into `consts` of the filters whose NCHW and NHWC memory orders differ, read only
    /// as the weights of convolutions.
    conv_weights: Vec<usize>,
    inputs: Vec<(ValueInfo, usize)>,
    outputs: Vec<usize>,
    output_names: Vec<String>,
    steps: Vec<Step>,
    placements: Vec<NodePlacement>,
    graphs_on: AtomicBool,
    graph: Mutex<Option<GraphSlot>>,
    /// When convolution chains run channels-last: a [`Nhwc`] as u8 ([`default_nhwc`],
    /// `ZENRT_CUDA_NHWC`, [`CudaPlan::set_channels_last`]).
    nhwc: AtomicU8,
}

/// When 4-D convolutions run channels-last (NHWC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Nhwc {
    Off = 0,
    On = 1,
    /// On for runs whose batch (leading dim of the first 4-D input) is at least [`NHWC_MIN_BATCH`].
    Batched = 2,
}

/// The smallest batch [`Nhwc::Batched`] runs channels-last.
pub const NHWC_MIN_BATCH: usize = 8;

/// What grouped convolutions a model has (the channels-last default depends on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Groups {
    None,
    /// Depthwise only (group = input channels: one input channel per group).
    Depthwise,
    /// Grouped with several channels per group (no channels-last kernel of ours).
    Other,
}

/// The default policy, from device runs (docs/cuda.md, "Session 6" and "Session 7", H100):
/// channels-last paid at batch 32 in TF32, fp16 and bf16 on a model without grouped convolutions
/// (resnet50 b32 fp16 7.5-7.8 -> 5.3-5.5 ms, TF32 7.4-7.8 -> 6.4-6.5); it lost in strict fp32
/// (cuDNN's NHWC FMA kernels: 13.1 -> 14.3 ms) and at batch 1 (resnet50 fp16 0.80 -> 0.88).
/// Depthwise models: see [`DEPTHWISE_NHWC`]. Other grouped convolutions stay NCHW.
pub fn default_nhwc(precision: crate::Precision, groups: Groups) -> Nhwc {
    use crate::Precision as P;
    match (groups, precision) {
        (Groups::None, P::Tf32 | P::F16 | P::Bf16) => Nhwc::Batched,
        (Groups::Depthwise, p) if DEPTHWISE_NHWC.contains(&p) => Nhwc::Batched,
        _ => Nhwc::Off,
    }
}

/// Precisions in which depthwise models run channels-last at batch >= [`NHWC_MIN_BATCH`] by
/// default (session 7: with the vectorised channels-last depthwise kernel `dw_nhwc_*`).
const DEPTHWISE_NHWC: &[crate::Precision] =
    &[crate::Precision::F32, crate::Precision::Tf32, crate::Precision::F16, crate::Precision::Bf16];

/// `ZENRT_CUDA_NHWC=1` / `0` forces channels-last on / off; else [`default_nhwc`] where cuDNN
/// loaded (off without it: our NHWC path runs dense convolutions through NCHW copies).
fn nhwc_policy(precision: crate::Precision, groups: Groups, cudnn: bool) -> Nhwc {
    match std::env::var("ZENRT_CUDA_NHWC").as_deref() {
        Ok("1") => Nhwc::On,
        Ok("0") => Nhwc::Off,
        _ if cudnn => default_nhwc(precision, groups),
        _ => Nhwc::Off,
    }
}

/// The grouped convolutions in `order`: depthwise where the filter (an initializer) has one
/// input channel per group.
fn conv_groups(graph: &OnnxGraph, order: &[Node]) -> Groups {
    order
        .iter()
        .filter(|n| n.op_type.ends_with("Conv"))
        .map(|n| match n.attrs.get("group") {
            Some(zenrt_core::Attr::Int(g)) if *g > 1 => {
                let w = n.inputs.get(1).and_then(|w| graph.initializers.get(w));
                if w.is_some_and(|w| w.shape().get(1) == Some(&1)) {
                    Groups::Depthwise
                } else {
                    Groups::Other
                }
            }
            _ => Groups::None,
        })
        .max()
        .unwrap_or(Groups::None)
}

/// Initializers read only as convolution filters (input 1 of Conv/FusedConv) whose NCHW and NHWC
/// memory orders differ (4-D, several input channels per group, a window larger than 1x1).
fn filter_consts(graph: &OnnxGraph, order: &[Node]) -> HashSet<String> {
    let mut other: HashSet<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
    let mut filters = HashSet::new();
    for n in order {
        for (k, i) in n.inputs.iter().enumerate() {
            let conv = matches!(
                (n.domain.as_str(), n.op_type.as_str()),
                ("" | "ai.onnx", "Conv") | ("com.zenrt", "FusedConv")
            );
            if k == 1 && conv {
                filters.insert(i.as_str());
            } else {
                other.insert(i.as_str());
            }
        }
    }
    filters
        .into_iter()
        .filter(|f| !other.contains(f))
        .filter(|f| {
            graph.initializers.get(*f).is_some_and(|t| matches!(t.shape(), [_, c, h, w] if *c > 1 && h * w > 1))
        })
        .map(str::to_string)
        .collect()
}

impl Drop for CudaPlan {
    fn drop(&mut self) {
        // drop the graph first (it holds pool memory), then keep the lane for the next session
        if let Ok(mut g) = self.graph.lock() {
            *g = None;
        }
        crate::retire(self.gpu.clone());
    }
}

impl std::fmt::Debug for CudaPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaPlan({} steps on {})", self.steps.len(), self.gpu.name)
    }
}

impl CudaPlan {
    /// Compiles `graph` (already optimized) for `gpu`, running nodes in `order` (the CPU plan's
    /// topological order). Uploads every initializer once. Fails, listing every node without a
    /// CUDA kernel, unless `cpu_fallback` is on.
    pub fn compile(gpu: Arc<Gpu>, graph: &Arc<OnnxGraph>, order: &[Node], cpu_fallback: bool) -> Result<CudaPlan> {
        let plan = CudaPlan::compile_on(gpu.clone(), graph, order, cpu_fallback);
        if plan.is_err() {
            // keep the lane for the next session instead of closing it: destroying a lane's
            // cuBLAS/cuDNN handles and streams while other lanes work crashed the driver
            // (session 8: SIGSEGV in cuCtxSynchronize under cublasDestroy, and in cuEventRecord
            // under another lane's cuDNN Find, with refused node cases closing their lanes)
            crate::retire(gpu);
        }
        plan
    }

    fn compile_on(gpu: Arc<Gpu>, graph: &Arc<OnnxGraph>, order: &[Node], cpu_fallback: bool) -> Result<CudaPlan> {
        let mut analyzed = analyze(graph, order, cpu_fallback);
        fuse_activations(graph, order, &mut analyzed);
        let order = &fuse_residuals(graph, order, &mut analyzed);
        let groups = conv_groups(graph, order);
        let filters = filter_consts(graph, order);
        let missing: Vec<String> = analyzed
            .iter()
            .filter_map(|(p, _)| match &p.placement {
                Placement::Unsupported(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            return Err(Error::Unsupported(format!(
                "the CUDA backend cannot run {} node(s): {} (SessionOptions cuda_cpu_fallback / --cpu-fallback runs them on the CPU)",
                missing.len(),
                missing.join("; ")
            )));
        }
        gpu.bind()?;
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let mut consts = Vec::new();
        let mut conv_weights = Vec::new();
        for (name, t) in &graph.initializers {
            let id = slot_of.len();
            slot_of.insert(name.clone(), id);
            let g = gpu.upload(t).map_err(|e| e.context(format!("uploading initializer '{name}'")))?;
            if filters.contains(name) {
                conv_weights.push(consts.len());
            }
            consts.push((id, Val::Host(t.clone(), Some(g))));
        }
        let mut inputs = Vec::new();
        for vi in &graph.inputs {
            let id = match slot_of.get(&vi.name) {
                Some(&id) => id,
                None => {
                    let id = slot_of.len();
                    slot_of.insert(vi.name.clone(), id);
                    id
                }
            };
            inputs.push((vi.clone(), id));
        }
        let mut steps = Vec::with_capacity(order.len());
        let mut placements = Vec::with_capacity(order.len());
        for (n, (p, k)) in order.iter().zip(analyzed) {
            let ins = n
                .inputs
                .iter()
                .map(|s| {
                    if s.is_empty() {
                        Ok(None)
                    } else {
                        slot_of
                            .get(s)
                            .copied()
                            .map(Some)
                            .ok_or_else(|| Error::DanglingEdge { node: display_name(n), value: s.clone() })
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let outs = n
                .outputs
                .iter()
                .map(|o| {
                    if o.is_empty() {
                        None
                    } else {
                        let id = slot_of.len();
                        slot_of.insert(o.clone(), id);
                        Some(id)
                    }
                })
                .collect();
            let kernel = match (&p.placement, k) {
                (Placement::Gpu, Some(k)) => Kernel::Gpu(k),
                (Placement::HostShape, _) => Kernel::Host,
                (Placement::CpuFallback(_), _) => Kernel::Fallback,
                _ => return Err(Error::Invalid(format!("no kernel for {}", display_name(n)))),
            };
            steps.push(Step { node: n.clone(), kernel, inputs: ins, outputs: outs, free_after: vec![] });
            placements.push(p);
        }
        let mut outputs = Vec::new();
        for o in &graph.outputs {
            outputs.push(*slot_of.get(&o.name).ok_or_else(|| Error::MissingOutput(o.name.clone()))?);
        }
        // Last readers: free a value right after the step that reads it last.
        let keep: HashSet<usize> = outputs.iter().copied().chain(consts.iter().map(|(s, _)| *s)).collect();
        let mut last: HashMap<usize, usize> = HashMap::new();
        for (si, st) in steps.iter().enumerate() {
            for s in st.inputs.iter().flatten() {
                last.insert(*s, si);
            }
        }
        for (&slot, &si) in &last {
            if !keep.contains(&slot) {
                steps[si].free_after.push(slot);
            }
        }
        for st in steps.iter_mut() {
            let unread: Vec<usize> =
                st.outputs.iter().flatten().copied().filter(|s| !keep.contains(s) && !last.contains_key(s)).collect();
            st.free_after.extend(unread);
        }
        Ok(CudaPlan {
            nslots: slot_of.len(),
            consts: Mutex::new(consts),
            conv_weights,
            inputs,
            outputs,
            output_names: graph.outputs.iter().map(|o| o.name.clone()).collect(),
            steps,
            placements,
            graphs_on: AtomicBool::new(std::env::var("ZENRT_CUDA_GRAPHS").map(|v| v != "0").unwrap_or(true)),
            graph: Mutex::new(None),
            nhwc: AtomicU8::new(nhwc_policy(gpu.precision, groups, gpu.cudnn.is_ok()) as u8),
            gpu,
        })
    }

    /// Where each node runs.
    pub fn placements(&self) -> &[NodePlacement] {
        &self.placements
    }

    /// The device.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// Names of the graph outputs, in order.
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// Runs on named host tensors; returns the outputs as host tensors.
    ///
    /// With graphs on (the default; [`CudaPlan::set_graphs`], `ZENRT_CUDA_GRAPHS=0`): the first
    /// run of an input signature (dtypes and shapes) runs op by op (choosing convolution
    /// algorithms, warming the allocator); the second is captured into a CUDA graph with pinned
    /// input/output staging buffers, and later runs of that signature replay it (one launch). A
    /// different signature drops the graph (its memory goes back to the pool). Runs that
    /// synchronise inside (data-dependent host work, CPU fallback) stay op by op.
    pub fn run(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<Tensor>> {
        self.run_many(vec![inputs])?.pop().ok_or_else(|| Error::Invalid("CUDA run: no result".into()))
    }

    /// Runs several requests in order and returns their outputs in order, equal to calling
    /// [`CudaPlan::run`] on each. Consecutive requests whose input signature has a captured graph
    /// are pipelined: request i+1's upload and request i-1's download run on the lane's copy
    /// streams while request i's graph replays on the compute stream (`pipeline.rs`). Others
    /// (first runs of a signature, graphs off) run one by one as in `run`.
    pub fn run_many(&self, requests: Vec<Vec<(String, Tensor)>>) -> Result<Vec<Vec<Tensor>>> {
        let mut outs = Vec::with_capacity(requests.len());
        let mut i = 0;
        while i < requests.len() {
            let key = if self.graphs_on.load(Ordering::Relaxed) { self.signature(&requests[i]) } else { None };
            let Some(key) = key else {
                outs.push(self.execute(&requests[i], None)?);
                i += 1;
                continue;
            };
            let mut slot = self.graph.lock().map_err(|_| Error::Invalid("CUDA graph cache poisoned".into()))?;
            match slot.as_mut() {
                Some(g) if g.key == key => {
                    if matches!(g.state, GraphState::Seen) {
                        g.state = match self.capture(&requests[i]) {
                            Ok(r) => GraphState::Ready(Box::new(r)),
                            Err(e) => GraphState::Off(e.to_string()),
                        };
                    }
                    match &mut g.state {
                        GraphState::Ready(r) => {
                            // the run of requests with this signature
                            let n =
                                requests[i..].iter().take_while(|q| self.signature(q).as_ref() == Some(&key)).count();
                            let batch: Vec<&[(String, Tensor)]> =
                                requests[i..i + n].iter().map(|q| q.as_slice()).collect();
                            outs.extend(self.replay(r, &batch)?);
                            i += n;
                        }
                        _ => {
                            outs.push(self.execute(&requests[i], None)?);
                            i += 1;
                        }
                    }
                }
                _ => {
                    *slot = Some(GraphSlot { key, state: GraphState::Seen });
                    drop(slot);
                    outs.push(self.execute(&requests[i], None)?);
                    i += 1;
                }
            }
        }
        Ok(outs)
    }

    /// `f` on the captured graph's replay state, the lane's run lock held and the context
    /// bound; `None` when no graph is captured (yet).
    fn with_replay<R>(&self, f: impl FnOnce(&Gpu, &mut Replay) -> Result<R>) -> Result<Option<R>> {
        let mut slot = self.graph.lock().map_err(|_| Error::Invalid("CUDA graph cache poisoned".into()))?;
        let Some(GraphSlot { state: GraphState::Ready(r), .. }) = slot.as_mut() else { return Ok(None) };
        let gpu = &*self.gpu;
        let _guard = gpu.run_lock.lock().map_err(|_| Error::Invalid("CUDA run lock poisoned".into()))?;
        gpu.bind()?;
        f(gpu, r).map(Some)
    }

    /// Turns recording of a [`RunSplit`] per single-request replay on or off (for benchmarks);
    /// false when no graph is captured.
    pub fn set_split_timing(&self, on: bool) -> Result<bool> {
        Ok(self.with_replay(|_, r| r.set_split_timing(on))?.is_some())
    }

    /// The splits recorded since the last call.
    pub fn take_splits(&self) -> Result<Vec<RunSplit>> {
        Ok(self.with_replay(|_, r| Ok(r.take_splits()))?.unwrap_or_default())
    }

    /// Device milliseconds of `iters` replays of the captured graph with the inputs of the last
    /// run left in its device buffers and the outputs left on the device (no host copies): the
    /// time a caller whose tensors live on the GPU waits, comparable with PyTorch timed on
    /// device-resident tensors. `None` when no graph is captured.
    pub fn time_resident(&self, iters: usize) -> Result<Option<Vec<f64>>> {
        self.with_replay(|gpu, r| r.time_resident(gpu, iters))
    }

    /// Turns CUDA graph capture/replay on or off (off drops a captured graph).
    pub fn set_graphs(&self, on: bool) {
        self.graphs_on.store(on, Ordering::Relaxed);
        if !on {
            if let Ok(mut g) = self.graph.lock() {
                *g = None;
            }
        }
    }

    /// Turns channels-last convolution chains on (every batch) or off; drops a captured graph.
    /// Returns whether they are on now. (Without cuDNN, dense convolutions then run through
    /// NCHW copies: correct, slower; the default policy keeps them off there.)
    pub fn set_channels_last(&self, on: bool) -> bool {
        self.nhwc.store(if on { Nhwc::On } else { Nhwc::Off } as u8, Ordering::Relaxed);
        if let Ok(mut g) = self.graph.lock() {
            *g = None;
        }
        on
    }

    /// When convolution chains run channels-last.
    pub fn channels_last(&self) -> Nhwc {
        match self.nhwc.load(Ordering::Relaxed) {
            1 => Nhwc::On,
            2 => Nhwc::Batched,
            _ => Nhwc::Off,
        }
    }

    /// Whether the run with these values (graph inputs fed) goes channels-last.
    fn channels_last_for(&self, values: &[Option<Val>]) -> bool {
        match self.channels_last() {
            Nhwc::On => true,
            Nhwc::Off => false,
            Nhwc::Batched => self.inputs.iter().any(|(_, s)| match values.get(*s) {
                Some(Some(Val::Dev(g))) => g.shape.len() == 4 && g.shape[0] >= NHWC_MIN_BATCH,
                _ => false,
            }),
        }
    }

    /// Puts the convolution filters in the layout of this run (`nhwc`: [OC, KH, KW, C/group]),
    /// replacing the device copy of each constant, so that only one layout of each filter is on
    /// the device. They change only when a run's layout differs from the last one's, which comes
    /// with a new input signature or [`CudaPlan::set_channels_last`] (both drop a captured graph,
    /// so no graph holds the old addresses); never inside a capture.
    fn settle_weights(&self, values: &mut [Option<Val>], nhwc: bool) -> Result<()> {
        if self.conv_weights.is_empty() {
            return Ok(());
        }
        let mut consts = self.consts.lock().map_err(|_| Error::Invalid("CUDA constants poisoned".into()))?;
        for &k in &self.conv_weights {
            let Some((slot, Val::Host(t, Some(g)))) = consts.get_mut(k) else { continue };
            if g.nhwc == nhwc {
                continue;
            }
            if self.gpu.capturing() {
                return Err(Error::Unsupported("CUDA graph capture: convolution filters change layout".into()));
            }
            *g = ops::to_layout(&self.gpu, g, nhwc)?;
            if let Some(v) = values.get_mut(*slot) {
                *v = Some(Val::Host(t.clone(), Some(g.clone())));
            }
        }
        Ok(())
    }

    /// What the graph cache holds: `none`, `seen` (one op-by-op run of the signature),
    /// `replaying (N MiB)` or `op by op: <why capture failed>`.
    pub fn graph_status(&self) -> String {
        match self.graph.lock().ok().as_deref().and_then(|g| g.as_ref().map(|g| &g.state)) {
            None => "none".into(),
            Some(GraphState::Seen) => "seen".into(),
            Some(GraphState::Ready(r)) => format!("replaying ({} MiB)", r.graph.bytes >> 20),
            Some(GraphState::Off(why)) => format!("op by op: {why}"),
        }
    }

    /// Runs and times each step (the stream is synchronised after every step, so the times are
    /// device times including launch overhead; the run is slower than [`CudaPlan::run`]).
    pub fn run_profiled(&self, inputs: Vec<(String, Tensor)>) -> Result<(Vec<Tensor>, Vec<StepTiming>)> {
        let mut t = Vec::with_capacity(self.steps.len());
        let outs = self.execute(&inputs, Some(&mut t))?;
        Ok((outs, t))
    }

    /// The input signature (dtype and shape of every graph input, in order); `None` when a
    /// name is unknown (the op-by-op path reports the error).
    fn signature(&self, inputs: &[(String, Tensor)]) -> Option<Signature> {
        if inputs.iter().any(|(n, _)| !self.inputs.iter().any(|(vi, _)| &vi.name == n)) {
            return None;
        }
        Some(
            self.inputs
                .iter()
                .map(|(vi, _)| inputs.iter().find(|(n, _)| *n == vi.name).map(|(_, t)| (t.dtype(), t.shape().to_vec())))
                .collect(),
        )
    }

    fn execute(&self, inputs: &[(String, Tensor)], prof: Option<&mut Vec<StepTiming>>) -> Result<Vec<Tensor>> {
        let gpu = &*self.gpu;
        let _guard = gpu.run_lock.lock().map_err(|_| Error::Invalid("CUDA run lock poisoned".into()))?;
        gpu.bind()?;
        gpu.clear_bad_flag()?;
        let mut values = self.feed(inputs, |t| gpu.upload(t))?;
        self.run_steps(&mut values, prof)?;
        let mut outs = Vec::with_capacity(self.outputs.len());
        for (i, &s) in self.outputs.iter().enumerate() {
            let v = values[s].as_ref().ok_or_else(|| Error::MissingOutput(self.output_names[i].clone()))?;
            outs.push(match v {
                Val::Host(t, _) => t.as_ref().clone(),
                Val::Dev(g) => gpu.download(g)?,
            });
        }
        drop(values);
        if gpu.read_bad_flag()? {
            return Err(bad_index());
        }
        Ok(outs)
    }

    /// Captures one run into a graph (the run lock held; nothing of it executes): a first
    /// capture records the run's allocations and frees, their lifetimes plan one device block
    /// (`plan_arena`), and a second capture takes every buffer from that block, which the graph
    /// keeps. So a graph holds about the run's peak of live bytes, not every buffer it touched.
    fn capture(&self, inputs: &[(String, Tensor)]) -> Result<Replay> {
        let gpu = &*self.gpu;
        let _guard = gpu.run_lock.lock().map_err(|_| Error::Invalid("CUDA run lock poisoned".into()))?;
        // no other lane frees memory or opens/closes a lane meanwhile (that invalidates a capture)
        let _sync = crate::gpu::capture_guard();
        gpu.bind()?;
        gpu.begin_capture(None)?;
        let first = self.capture_body(inputs);
        let trace = gpu.end_capture(first.is_ok());
        first?;
        let (plan, total) = crate::graph::plan_arena(&trace?.events);
        let arena = gpu.alloc_bytes(total.max(256))?;
        gpu.begin_capture(Some(crate::graph::Arena { base: arena.ptr, plan, next: 0 }))?;
        let body = self.capture_body(inputs);
        let captured = gpu.end_capture(body.is_ok());
        let (fixed, outputs) = body?;
        Ok(Replay::new(gpu.instantiate(captured?, arena)?, fixed, outputs))
    }

    /// The captured work of one run: the inputs read from fixed device buffers (returned with
    /// their names and host sizes), the steps, and where each output is after a replay.
    #[allow(clippy::type_complexity)]
    fn capture_body(
        &self,
        inputs: &[(String, Tensor)],
    ) -> Result<(Vec<(String, Arc<crate::gpu::DevBuf>, usize)>, Vec<Staged>)> {
        let gpu = &*self.gpu;
        gpu.clear_bad_flag()?;
        let mut fixed = Vec::new();
        let mut values = self.feed(inputs, |t| {
            let (g, buf) = gpu.fixed_input(t)?;
            fixed.push((buf, crate::graph::host_bytes(t)?.len()));
            Ok(g)
        })?;
        self.run_steps(&mut values, None)?;
        let mut outs = Vec::with_capacity(self.outputs.len());
        let mut widened = Vec::new();
        for (i, &s) in self.outputs.iter().enumerate() {
            let v = values[s].as_ref().ok_or_else(|| Error::MissingOutput(self.output_names[i].clone()))?;
            outs.push(match v {
                Val::Host(t, _) => Staged::Host(t.as_ref().clone()),
                Val::Dev(g) => {
                    // half storage goes out as f32, widened on the device into the arena; the
                    // copy out follows the replay, so every widened buffer stays alive (in the
                    // arena's plan) to the end of the run
                    let wide = if gpu.narrowed(g.dtype) { Some(gpu.widen(g)?) } else { None };
                    let addr = wide.as_ref().map_or(g.ptr(), |b| b.ptr);
                    widened.extend(wide);
                    Staged::Dev { addr, bytes: g.len() * g.dtype.size(), dtype: g.dtype, shape: g.shape.clone() }
                }
            });
        }
        // feed() put the inputs in the order given: name each buffer
        let fixed = inputs.iter().zip(fixed).map(|((n, _), (b, bytes))| (n.clone(), b, bytes)).collect();
        Ok((fixed, outs))
    }

    /// Replays a captured graph for `reqs` (one: on the compute stream; more: pipelined).
    fn replay(&self, r: &mut Replay, reqs: &[&[(String, Tensor)]]) -> Result<Vec<Vec<Tensor>>> {
        let gpu = &*self.gpu;
        let _guard = gpu.run_lock.lock().map_err(|_| Error::Invalid("CUDA run lock poisoned".into()))?;
        gpu.bind()?;
        match reqs {
            [one] => Ok(vec![r.run_one(gpu, one)?]),
            _ => r.run_many(gpu, reqs),
        }
    }

    /// The run's value slots with constants set and the inputs checked and put on the device
    /// by `put` (in the order given).
    fn feed(
        &self,
        inputs: &[(String, Tensor)],
        mut put: impl FnMut(&Tensor) -> Result<GTensor>,
    ) -> Result<Vec<Option<Val>>> {
        let mut values: Vec<Option<Val>> = vec![None; self.nslots];
        for (s, v) in self.consts.lock().map_err(|_| Error::Invalid("CUDA constants poisoned".into()))?.iter() {
            values[*s] = Some(v.clone());
        }
        let mut fed = HashSet::new();
        for (name, t) in inputs {
            let Some((vi, slot)) = self.inputs.iter().find(|(vi, _)| &vi.name == name) else {
                return Err(Error::UnknownInput {
                    name: name.clone(),
                    expected: self.inputs.iter().map(|(v, _)| v.name.clone()).collect(),
                });
            };
            if let Some(dt) = vi.dtype {
                if dt != t.dtype() {
                    return Err(Error::BadInput {
                        name: name.clone(),
                        msg: format!("expected dtype {dt}, got {}", t.dtype()),
                    });
                }
            }
            if let Some(shape) = &vi.shape {
                if shape.len() != t.rank() {
                    return Err(Error::BadInput {
                        name: name.clone(),
                        msg: format!("expected rank {}, got {:?}", shape.len(), t.shape()),
                    });
                }
            }
            values[*slot] = Some(Val::Dev(put(t)?));
            fed.insert(*slot);
        }
        for (vi, slot) in &self.inputs {
            if values[*slot].is_none() && !fed.contains(slot) {
                return Err(Error::MissingInput(vi.name.clone()));
            }
        }
        Ok(values)
    }

    /// Runs every step on `values` (freeing each value after its last reader).
    fn run_steps(&self, values: &mut [Option<Val>], mut prof: Option<&mut Vec<StepTiming>>) -> Result<()> {
        let gpu = &*self.gpu;
        let nhwc = self.channels_last_for(values);
        self.settle_weights(values, nhwc)?;
        let cx = Cx { gpu, nhwc };
        for st in &self.steps {
            let name = || display_name(&st.node);
            let layout = match &st.kernel {
                Kernel::Gpu(k) => k.layout(),
                _ => Layout::Nchw,
            };
            let views = if nhwc {
                settle_layouts(gpu, values, &st.inputs, layout).map_err(|e| e.in_node(&name(), &st.node.op_type))?
            } else {
                None
            };
            let mut ins: Vec<Option<&Val>> = Vec::with_capacity(st.inputs.len());
            for (k, s) in st.inputs.iter().enumerate() {
                if let Some((v, _)) = &views {
                    ins.push(v.get(k).and_then(|v| v.as_ref()));
                    continue;
                }
                match s {
                    None => ins.push(None),
                    Some(s) => match values[*s].as_ref() {
                        Some(v) => ins.push(Some(v)),
                        None => {
                            return Err(Error::Invalid(format!("input '{}' has no value", st.node.inputs[k]))
                                .in_node(&name(), &st.node.op_type))
                        }
                    },
                }
            }
            let t0 = prof.is_some().then(Instant::now);
            let outs = match &st.kernel {
                Kernel::Gpu(k) => k.run(&cx, &ins),
                Kernel::Host | Kernel::Fallback => {
                    run_on_host(&cx, &st.node, &ins, matches!(st.kernel, Kernel::Fallback))
                }
            }
            .map_err(|e| e.in_node(&name(), &st.node.op_type))?;
            if let (Some(p), Some(t0)) = (prof.as_deref_mut(), t0) {
                gpu.sync().map_err(|e| e.in_node(&name(), &st.node.op_type))?;
                p.push(StepTiming { node: name(), op_type: st.node.op_type.clone(), elapsed: t0.elapsed() });
            }
            drop(ins);
            if outs.len() < st.outputs.iter().flatten().count() {
                return Err(Error::Invalid(format!("kernel returned {} outputs", outs.len()))
                    .in_node(&name(), &st.node.op_type));
            }
            let logical = views.map(|(_, s)| s);
            for (slot, mut v) in st.outputs.iter().zip(outs) {
                // a result over channels-last views, [N, H, W, C]: NHWC under its logical shape
                if let (Some(s), Val::Dev(g)) = (&logical, &mut v) {
                    if g.shape == [s[0], s[2], s[3], s[1]] {
                        *g = g.view(s.clone());
                        g.nhwc = true;
                    }
                }
                if let Some(slot) = slot {
                    values[*slot] = Some(v);
                }
            }
            for &s in &st.free_after {
                values[s] = None;
            }
        }
        // graph outputs leave in NCHW
        if nhwc {
            settle_layouts(gpu, values, &self.outputs.iter().map(|&s| Some(s)).collect::<Vec<_>>(), Layout::Nchw)?;
        }
        Ok(())
    }
}

/// Makes the channels-last inputs `slots` of a kernel fit its `layout`: converts them to NCHW
/// in place where it needs that (later readers then get the NCHW copy), or, for an elementwise
/// kernel whose inputs all have a channels-last view ([`physical_shape`]), returns those views:
/// the kernel then runs on the memory as it is, and its outputs are channels-last.
fn settle_layouts(
    gpu: &Gpu,
    values: &mut [Option<Val>],
    slots: &[Option<usize>],
    layout: Layout,
) -> Result<Option<Views>> {
    let seen: Vec<Seen> = slots
        .iter()
        .flatten()
        .map(|&s| match values.get(s) {
            Some(Some(Val::Dev(g))) => Seen::of(g),
            Some(Some(Val::Host(t, _))) => Seen { nhwc: false, shape: t.shape().to_vec(), len: t.len() },
            _ => Seen { nhwc: false, shape: vec![], len: 1 },
        })
        .collect();
    match layout_action(&seen, layout) {
        LayoutAction::AsIs => Ok(None),
        LayoutAction::Physical(shape) => {
            let view = |v: &Val| -> Option<Val> {
                let g = match v {
                    Val::Host(t, _) if t.len() == 1 => return Some(v.clone()), // host scalars stay
                    Val::Dev(g) | Val::Host(_, Some(g)) => g,
                    Val::Host(_, None) => return None,
                };
                Some(Val::Dev(g.view(physical_shape(&Seen::of(g), &shape)?)))
            };
            let views: Option<Vec<Option<Val>>> = slots
                .iter()
                .map(|s| match s.and_then(|s| values.get(s)).and_then(|v| v.as_ref()) {
                    None => Some(None),
                    Some(v) => view(v).map(Some),
                })
                .collect();
            if let Some(views) = views {
                return Ok(Some((views, shape)));
            }
            to_nchw(gpu, values, slots)?;
            Ok(None)
        }
        LayoutAction::ToNchw => {
            to_nchw(gpu, values, slots)?;
            Ok(None)
        }
    }
}

/// Converts the channels-last values among `slots` to NCHW in place.
fn to_nchw(gpu: &Gpu, values: &mut [Option<Val>], slots: &[Option<usize>]) -> Result<()> {
    for &s in slots.iter().flatten() {
        if let Some(Some(Val::Dev(g))) = values.get(s) {
            if g.nhwc {
                let n = ops::to_layout(gpu, g, false)?;
                values[s] = Some(Val::Dev(n));
            }
        }
    }
    Ok(())
}

/// A kernel's inputs as channels-last views, and the logical shape of its NHWC inputs.
type Views = (Vec<Option<Val>>, Vec<usize>);

/// A kernel input as the layout decision sees it.
#[derive(Debug)]
struct Seen {
    nhwc: bool,
    shape: Vec<usize>,
    len: usize,
}

impl Seen {
    fn of(g: &GTensor) -> Seen {
        Seen { nhwc: g.nhwc, shape: g.shape.clone(), len: g.len() }
    }
}

/// What happens before a kernel with `layout` reads `inputs`.
#[derive(Debug, PartialEq)]
enum LayoutAction {
    /// Nothing (no channels-last input, or the kernel reads either layout).
    AsIs,
    /// Elementwise over NHWC inputs of this logical shape, with operands that have a
    /// channels-last view: runs on the views; outputs are NHWC.
    Physical(Vec<usize>),
    /// The NHWC inputs are converted to NCHW first.
    ToNchw,
}

fn layout_action(inputs: &[Seen], layout: Layout) -> LayoutAction {
    let Some(first) = inputs.iter().filter(|i| i.nhwc).max_by_key(|i| i.len) else { return LayoutAction::AsIs };
    match layout {
        Layout::Any => LayoutAction::AsIs,
        Layout::Same if inputs.iter().all(|i| physical_shape(i, &first.shape).is_some()) => {
            LayoutAction::Physical(first.shape.clone())
        }
        _ => LayoutAction::ToNchw,
    }
}

/// The shape under which input `i` lines up with channels-last tensors of logical shape
/// `s` = [N, C, H, W] seen as [N, H, W, C]: such a tensor itself; a single element as it is; an
/// operand constant over H and W (shape [.., n, c, 1, 1] in either layout, the same memory, e.g.
/// a squeeze-excitation scale or a per-channel [C, 1, 1]) as [n, 1, 1, c]. `None`: no such view.
fn physical_shape(i: &Seen, s: &[usize]) -> Option<Vec<usize>> {
    if i.nhwc && i.shape == s && s.len() == 4 {
        return Some(vec![s[0], s[2], s[3], s[1]]);
    }
    if i.len == 1 {
        return Some(i.shape.clone());
    }
    if i.shape.len() > 4 {
        return None;
    }
    let mut p = vec![1usize; 4 - i.shape.len()];
    p.extend(&i.shape);
    (p[2] == 1 && p[3] == 1).then(|| vec![p[0], 1, 1, p[1]])
}

pub(crate) fn bad_index() -> Error {
    Error::Invalid("an index is out of range (Gather indices or RNN sequence_lens, detected on the GPU)".into())
}

/// Dtype and shape of each graph input (`None`: not fed).
type Signature = Vec<Option<(DType, Vec<usize>)>>;

/// The graph cache of a plan: one input signature at a time.
struct GraphSlot {
    key: Signature,
    state: GraphState,
}

enum GraphState {
    /// Ran op by op once; the next run with this signature is captured.
    Seen,
    Ready(Box<Replay>),
    /// Capture failed (the reason): op by op.
    Off(String),
}

/// Folds an activation that is the only reader of a Conv/Gemm output into that node's epilogue
/// (`Conv -> Relu` runs as one FusedConv kernel sequence); the activation node becomes a no-copy
/// alias. Only applies where the fused op builds and the activation is a plain Relu, or a Clip
/// with constant bounds.
fn fuse_activations(graph: &OnnxGraph, order: &[Node], analyzed: &mut [(NodePlacement, Option<Box<dyn GpuOp>>)]) {
    use zenrt_core::Attr;
    let outputs: HashSet<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in order.iter().enumerate() {
        for v in n.inputs.iter().filter(|s| !s.is_empty()) {
            readers.entry(v.as_str()).or_default().push(i);
        }
        if !node_subgraphs(n).is_empty() {
            return; // subgraphs may read any value: keep it simple and fuse nothing
        }
    }
    let scalar = |name: Option<&String>| -> Option<Option<f32>> {
        match name {
            None => Some(None),
            Some(s) if s.is_empty() => Some(None),
            Some(s) => graph.initializers.get(s).and_then(|t| t.to_f64_vec().first().map(|&v| Some(v as f32))),
        }
    };
    for i in 0..order.len() {
        let n = &order[i];
        let fused_type = match (n.domain.as_str(), n.op_type.as_str()) {
            ("" | "ai.onnx", "Conv") => "FusedConv",
            ("" | "ai.onnx", "Gemm") => "FusedGemm",
            _ => continue,
        };
        if analyzed[i].0.placement != Placement::Gpu || n.outputs.len() != 1 || outputs.contains(n.outputs[0].as_str())
        {
            continue;
        }
        let Some(rs) = readers.get(n.outputs[0].as_str()) else { continue };
        if rs.len() != 1 {
            continue;
        }
        let j = rs[0];
        let a = &order[j];
        if analyzed[j].0.placement != Placement::Gpu || !(a.domain.is_empty() || a.domain == "ai.onnx") {
            continue;
        }
        let act: (&str, Vec<f32>) = match a.op_type.as_str() {
            "Relu" => ("Relu", vec![]),
            "Clip" if a.attrs.is_empty() => match (scalar(a.inputs.get(1)), scalar(a.inputs.get(2))) {
                (Some(lo), Some(hi)) => ("Clip", vec![lo.unwrap_or(f32::MIN), hi.unwrap_or(f32::MAX)]),
                _ => continue,
            },
            _ => continue,
        };
        let mut fused = n.clone();
        fused.domain = "com.zenrt".into();
        fused.op_type = fused_type.into();
        fused.attrs.insert("activation".into(), Attr::String(act.0.as_bytes().to_vec()));
        fused.attrs.insert("activation_params".into(), Attr::Floats(act.1));
        let Ok(k) = ops::build(&fused) else { continue };
        // node i's output now holds the activated value; the activation node forwards it
        analyzed[i].1 = Some(k);
        analyzed[j].1 = Some(Box::new(Forward));
        analyzed[j].0.placement = Placement::Gpu;
    }
}

/// Folds the residual `Add` (and a `Relu` reading only the sum) after a Conv into the Conv's
/// epilogue: `Conv(x) -> Add(., r) -> Relu` becomes `FusedConv(x, w, b, r)` with the ReLU, where
/// the conv output has no other reader, `r` is computed before the Conv (not a constant), and
/// the Add and Relu become no-copy aliases. Returns the order with the rewritten inputs (the
/// Conv reads `r`, the Add only the conv output), so last-use frees follow the new readers.
/// `ZENRT_CUDA_RESIDUAL=0` turns it off.
fn fuse_residuals(
    graph: &OnnxGraph,
    order: &[Node],
    analyzed: &mut [(NodePlacement, Option<Box<dyn GpuOp>>)],
) -> Vec<Node> {
    use zenrt_core::Attr;
    let mut order = order.to_vec();
    if std::env::var("ZENRT_CUDA_RESIDUAL").is_ok_and(|v| v == "0")
        || order.iter().any(|n| !node_subgraphs(n).is_empty())
    {
        return order;
    }
    let outputs: HashSet<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
    let mut readers: HashMap<String, Vec<usize>> = HashMap::new();
    let mut producer: HashMap<String, usize> = HashMap::new();
    for (i, n) in order.iter().enumerate() {
        for v in n.inputs.iter().filter(|s| !s.is_empty()) {
            readers.entry(v.clone()).or_default().push(i);
        }
        for o in &n.outputs {
            producer.insert(o.clone(), i);
        }
    }
    let on_gpu: Vec<bool> = analyzed.iter().map(|(p, _)| p.placement == Placement::Gpu).collect();
    let gpu = |k: usize| on_gpu[k];
    let plain = |n: &Node, op: &str| (n.domain.is_empty() || n.domain == "ai.onnx") && n.op_type == op;
    let sole_reader = |v: &str| match readers.get(v).map(Vec::as_slice) {
        Some([r]) if !outputs.contains(v) => Some(*r),
        _ => None,
    };
    for i in 0..order.len() {
        let n = order[i].clone();
        if !plain(&n, "Conv") || !gpu(i) || n.outputs.len() != 1 || n.inputs.len() > 3 {
            continue;
        }
        let x = n.outputs[0].clone();
        let Some(j) = sole_reader(&x) else { continue };
        let add = order[j].clone();
        let Some(chain_relu) = residual_add(&add).filter(|_| gpu(j)) else { continue };
        let r = if add.inputs[0] == x { add.inputs[1].clone() } else { add.inputs[0].clone() };
        // r must be a value computed before the Conv (or a graph input), not the conv output
        let before = producer.get(&r).map(|&k| k < i).unwrap_or(graph.inputs.iter().any(|v| v.name == r));
        if r == x || !before || graph.initializers.contains_key(&r) {
            continue;
        }
        let relu = sole_reader(&add.outputs[0]).filter(|&k| !chain_relu && plain(&order[k], "Relu") && gpu(k));
        let mut fused = n;
        fused.domain = "com.zenrt".into();
        fused.op_type = "FusedConv".into();
        fused.inputs.resize(3, String::new());
        fused.inputs.push(r);
        fused.attrs.insert(
            "activation".into(),
            Attr::String(if relu.is_some() || chain_relu { b"Relu".to_vec() } else { vec![] }),
        );
        fused.attrs.insert("activation_params".into(), Attr::Floats(vec![]));
        let Ok(k) = ops::build(&fused) else { continue };
        analyzed[i].1 = Some(k);
        order[i] = fused;
        order[j].inputs = vec![x];
        analyzed[j].1 = Some(Box::new(Forward));
        if let Some(k) = relu {
            analyzed[k].1 = Some(Box::new(Forward));
        }
    }
    order
}

/// A residual addition of two values: a plain `Add` (`Some(false)`), or the optimizer's
/// `FusedElementwise` chain `[Add]` (`Some(false)`) or `[Add, Relu]` (`Some(true)`: the ReLU is
/// part of it).
fn residual_add(n: &Node) -> Option<bool> {
    use zenrt_core::Attr;
    if n.inputs.len() != 2 || n.outputs.len() != 1 {
        return None;
    }
    if (n.domain.is_empty() || n.domain == "ai.onnx") && n.op_type == "Add" {
        return Some(false);
    }
    if n.domain != "com.zenrt" || n.op_type != "FusedElementwise" {
        return None;
    }
    let (Some(Attr::Strings(ops)), Some(Attr::Ints(operands))) = (n.attrs.get("ops"), n.attrs.get("operands")) else {
        return None;
    };
    match (ops.as_slice(), operands.first()) {
        ([a], Some(1)) if a.as_slice() == b"Add" => Some(false),
        ([a, r], Some(1)) if a.as_slice() == b"Add" && r.as_slice() == b"Relu" => Some(true),
        _ => None,
    }
}

/// The activation node of a fused pair: its input already holds the activated value.
struct Forward;

impl GpuOp for Forward {
    fn layout(&self) -> Layout {
        Layout::Any
    }
    fn run(&self, _cx: &Cx, ins: &[Option<&Val>]) -> Result<Vec<Val>> {
        Ok(vec![ins
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| Error::Invalid("fused activation without input".into()))?
            .clone()])
    }
}

/// Runs a node with its reference (CPU) operator: shape arithmetic on host values, or the
/// opt-in fallback (device inputs are downloaded, outputs uploaded).
fn run_on_host(cx: &Cx, node: &Node, ins: &[Option<&Val>], upload: bool) -> Result<Vec<Val>> {
    let hosts: Vec<Option<Arc<Tensor>>> =
        ins.iter().map(|v| v.map(|v| cx.host(v)).transpose()).collect::<Result<_>>()?;
    let refs: Vec<Option<&Tensor>> = hosts.iter().map(|h| h.as_deref()).collect();
    let outs = node.op.run(&ops::NoSubgraphs, &refs)?;
    outs.into_iter()
        .map(|t| {
            let g = if upload { Some(cx.gpu.upload(&t)?) } else { None };
            Ok(Val::Host(Arc::new(t), g))
        })
        .collect()
}

/// Sum of step times by op type (for reports).
pub fn by_op(t: &[StepTiming]) -> Vec<(String, Duration)> {
    let mut m: HashMap<String, Duration> = HashMap::new();
    for s in t {
        *m.entry(s.op_type.clone()).or_default() += s.elapsed;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Nop;

    impl zenrt_core::Op for Nop {
        fn run(&self, _: &dyn zenrt_core::ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
            Ok(vec![])
        }
    }

    fn node(op: &str, ins: &[&str], out: &str) -> Node {
        Node {
            name: out.into(),
            op_type: op.into(),
            domain: String::new(),
            inputs: ins.iter().map(|s| s.to_string()).collect(),
            outputs: vec![out.into()],
            attrs: Default::default(),
            op: Arc::new(Nop),
        }
    }

    /// A fused node's `activation` attribute ("-" when absent).
    fn activation(n: &Node) -> String {
        match n.attrs.get("activation") {
            Some(zenrt_core::Attr::String(s)) => String::from_utf8_lossy(s).into_owned(),
            _ => "-".into(),
        }
    }
    #[test]
    fn channels_last_inputs_are_converted_only_where_needed() {
        let t = |nhwc: bool, shape: &[usize]| Seen { nhwc, shape: shape.to_vec(), len: shape.iter().product() };
        let s = [2, 8, 5, 5];
        // no NHWC input: nothing to do, whatever the kernel
        for l in [Layout::Nchw, Layout::Any, Layout::Same] {
            assert_eq!(layout_action(&[t(false, &s)], l), LayoutAction::AsIs);
        }
        // elementwise over NHWC values of one shape, scalars and per-channel operands: channels-last
        for other in
            [t(true, &s), t(false, &[1]), t(false, &[2, 8, 1, 1]), t(false, &[8, 1, 1]), t(true, &[1, 8, 1, 1])]
        {
            assert_eq!(layout_action(&[t(true, &s), other], Layout::Same), LayoutAction::Physical(s.to_vec()));
        }
        // an NCHW operand of the same shape, another NHWC shape, a row broadcast [W]: NCHW
        for other in [t(false, &s), t(true, &[2, 8, 5, 1]), t(false, &[5]), t(false, &[1, 8, 5, 5])] {
            assert_eq!(layout_action(&[t(true, &s), other], Layout::Same), LayoutAction::ToNchw);
        }
        // convolution/pooling read NHWC themselves; anything else gets NCHW
        assert_eq!(layout_action(&[t(true, &s)], Layout::Any), LayoutAction::AsIs);
        assert_eq!(layout_action(&[t(true, &s)], Layout::Nchw), LayoutAction::ToNchw);
        // the views: [N, H, W, C] for the tensors, [n, 1, 1, c] for per-channel operands
        assert_eq!(physical_shape(&t(true, &s), &s), Some(vec![2, 5, 5, 8]));
        assert_eq!(physical_shape(&t(false, &[2, 8, 1, 1]), &s), Some(vec![2, 1, 1, 8]));
        assert_eq!(physical_shape(&t(false, &[8, 1, 1]), &s), Some(vec![1, 1, 1, 8]));
        assert_eq!(physical_shape(&t(false, &[1, 1]), &s), Some(vec![1, 1]));
        assert_eq!(physical_shape(&t(false, &[1, 2, 8, 1, 1]), &s), None);
    }

    #[test]
    fn channels_last_by_default_only_where_it_was_measured_faster() {
        use crate::Precision as P;
        for p in [P::Tf32, P::F16, P::Bf16] {
            assert_eq!(default_nhwc(p, Groups::None), Nhwc::Batched);
            assert_eq!(default_nhwc(p, Groups::Other), Nhwc::Off);
        }
        assert_eq!(default_nhwc(P::F32, Groups::None), Nhwc::Off);
        assert_eq!(default_nhwc(P::F32, Groups::Other), Nhwc::Off);
        for p in [P::F32, P::Tf32, P::F16, P::Bf16] {
            let want = if DEPTHWISE_NHWC.contains(&p) { Nhwc::Batched } else { Nhwc::Off };
            assert_eq!(default_nhwc(p, Groups::Depthwise), want);
        }
        // without cuDNN only the switch turns channels-last on
        if std::env::var("ZENRT_CUDA_NHWC").is_err() {
            assert_eq!(nhwc_policy(P::F16, Groups::None, false), Nhwc::Off);
            assert_eq!(nhwc_policy(P::F16, Groups::None, true), Nhwc::Batched);
        }
    }

    /// A graph of convolutions `(weight name, weight shape, group)` reading `x`, plus `extra`
    /// nodes; every weight is an initializer.
    fn conv_graph(convs: &[(&str, &[usize], i64)], extra: Vec<Node>) -> (OnnxGraph, Vec<Node>) {
        let mut g = OnnxGraph::default();
        let mut order = Vec::new();
        for (i, (w, shape, group)) in convs.iter().enumerate() {
            g.initializers.insert(w.to_string(), Arc::new(Tensor::zeros(DType::F32, shape.to_vec()).unwrap()));
            let mut n = node("Conv", &["x", w], &format!("y{i}"));
            n.attrs.insert("group".into(), zenrt_core::Attr::Int(*group));
            order.push(n);
        }
        order.extend(extra);
        (g, order)
    }

    #[test]
    fn grouped_convolutions_are_told_apart() {
        let kinds = |convs: &[(&str, &[usize], i64)]| {
            let (g, order) = conv_graph(convs, vec![]);
            conv_groups(&g, &order)
        };
        assert_eq!(kinds(&[("w", &[8, 4, 3, 3], 1)]), Groups::None);
        assert_eq!(kinds(&[("w", &[8, 4, 3, 3], 1), ("d", &[8, 1, 3, 3], 8)]), Groups::Depthwise);
        assert_eq!(kinds(&[("d", &[8, 1, 3, 3], 8), ("g", &[8, 2, 3, 3], 4)]), Groups::Other);
    }

    /// Only filters read by convolutions alone, whose two layouts differ, change layout.
    #[test]
    fn filters_that_change_layout() {
        let shapes: &[(&str, &[usize], i64)] = &[
            ("dense", &[8, 4, 3, 3], 1),
            ("pointwise", &[8, 4, 1, 1], 1),
            ("depthwise", &[8, 1, 3, 3], 8),
            ("shared", &[8, 4, 3, 3], 1),
            ("one_d", &[8, 4, 3], 1),
        ];
        let (g, order) = conv_graph(shapes, vec![node("Shape", &["shared"], "s")]);
        let f = filter_consts(&g, &order);
        assert_eq!(f, HashSet::from(["dense".to_string()]));
    }

    /// The optimizer's `FusedElementwise` residual chains fold like a plain Add (+ Relu).
    #[test]
    fn fused_add_chains_fold_into_the_conv() {
        let chain = |ins: &[&str], out: &str, ops: &[&str], operands: &[i64]| {
            let mut n = node("FusedElementwise", ins, out);
            n.domain = "com.zenrt".into();
            let ops = ops.iter().map(|o| o.as_bytes().to_vec()).collect();
            n.attrs.insert("ops".into(), zenrt_core::Attr::Strings(ops));
            n.attrs.insert("operands".into(), zenrt_core::Attr::Ints(operands.to_vec()));
            n.attrs.insert("swap".into(), zenrt_core::Attr::Ints(vec![0; operands.len()]));
            n
        };
        assert_eq!(residual_add(&chain(&["a", "b"], "c", &["Add", "Relu"], &[1, -1])), Some(true));
        assert_eq!(residual_add(&chain(&["a", "b"], "c", &["Add"], &[1])), Some(false));
        assert_eq!(residual_add(&chain(&["a", "b"], "c", &["Mul", "Relu"], &[1, -1])), None);
        assert_eq!(residual_add(&chain(&["a", "b"], "c", &["Add", "Sigmoid"], &[1, -1])), None);
        assert_eq!(residual_add(&chain(&["a", "b", "k"], "c", &["Add", "Add"], &[1, 2])), None);
        assert_eq!(residual_add(&node("Add", &["a", "b"], "c")), Some(false));
        assert_eq!(residual_add(&node("Sub", &["a", "b"], "c")), None);

        let mut g = OnnxGraph { name: "t".into(), ..Default::default() };
        g.inputs.push(ValueInfo::new("x", Some(DType::F32), None));
        g.outputs.push(ValueInfo::new("o", None, None));
        let w = Tensor::from_vec(vec![1, 1, 1, 1], vec![1.0f32]).unwrap();
        g.initializers.insert("w".into(), Arc::new(w));
        g.nodes = vec![
            node("Relu", &["x"], "r"),
            node("Conv", &["r", "w"], "c"),
            chain(&["c", "r"], "s", &["Add", "Relu"], &[1, -1]),
            node("Conv", &["s", "w"], "d"),
            chain(&["s", "d"], "o", &["Add"], &[1]),
        ];
        let order = g.nodes.clone();
        let mut analyzed = analyze(&g, &order, false);
        let new = fuse_residuals(&g, &order, &mut analyzed);
        assert_eq!(new[1].op_type, "FusedConv");
        assert_eq!(new[1].inputs, ["r", "w", "", "r"]);
        assert_eq!(activation(&new[1]), "Relu");
        assert_eq!(new[2].inputs, ["c"]);
        assert_eq!(new[3].inputs, ["s", "w", "", "s"]);
        assert_eq!(activation(&new[3]), "");
        assert_eq!(new[4].inputs, ["d"]);
    }

    /// Conv -> Add(residual) -> Relu folds into one FusedConv (needs no GPU: only the plan's
    /// rewrite is checked); a constant addend, a residual computed after the Conv and a conv
    /// output with a second reader are left alone.
    #[test]
    fn residual_add_relu_folds_into_the_conv() {
        let mut g = OnnxGraph { name: "t".into(), ..Default::default() };
        g.inputs.push(ValueInfo::new("x", Some(DType::F32), None));
        g.outputs.push(ValueInfo::new("out", None, None));
        let w = Tensor::from_vec(vec![1, 1, 1, 1], vec![1.0f32]).unwrap();
        g.initializers.insert("w".into(), Arc::new(w.clone()));
        g.initializers.insert("k".into(), Arc::new(w));
        g.nodes = vec![
            node("Conv", &["x", "w"], "a"),
            node("Relu", &["a"], "r"),
            node("Conv", &["r", "w"], "c"),
            node("Add", &["c", "r"], "s"), // folded with the Relu below
            node("Relu", &["s"], "o"),
            node("Conv", &["o", "w"], "d"),
            node("Add", &["d", "k"], "e"), // constant addend: stays
            node("Conv", &["e", "w"], "f"),
            node("Conv", &["e", "w"], "h"),
            node("Add", &["f", "h"], "i"), // h comes after f: f stays; h takes f as its residual
            node("Conv", &["i", "w"], "j"),
            node("Add", &["j", "i"], "l"),
            node("Relu", &["j"], "m"), // j has two readers: stays
            node("Add", &["l", "m"], "out"),
        ];
        let order = g.nodes.clone();
        let mut analyzed = analyze(&g, &order, false);
        fuse_activations(&g, &order, &mut analyzed);
        let new = fuse_residuals(&g, &order, &mut analyzed);
        let ops: Vec<&str> = new.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(
            ops,
            [
                "Conv",
                "Relu",
                "FusedConv",
                "Add",
                "Relu",
                "Conv",
                "Add",
                "Conv",
                "FusedConv",
                "Add",
                "Conv",
                "Add",
                "Relu",
                "Add"
            ]
        );
        assert_eq!(new[2].inputs, ["r", "w", "", "r"]);
        assert_eq!(activation(&new[2]), "Relu");
        assert_eq!(new[3].inputs, ["c"]);
        assert_eq!(new[8].inputs, ["e", "w", "", "f"]);
        assert_eq!(activation(&new[8]), "");
        assert_eq!(new[9].inputs, ["h"]);
        assert_eq!(new[6].inputs, ["d", "k"]);
    }
}
