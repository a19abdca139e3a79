//! The GPU runtime: a *lane* of one device (its compute stream and two copy streams, a cuBLAS
//! handle and a cuDNN handle on that stream, a caching device allocator), the NVRTC-compiled
//! kernel module (compiled once per process and device) and device tensors.
//!
//! Each session gets its own lane ([`crate::lane`]), so sessions on one GPU do not queue behind
//! one stream or one run lock; lanes share the device's primary context (kept for the process),
//! the kernel module, the generated-kernel cache and the cuDNN algorithm choices
//! ([`crate::find_cache`]). A dropped session's lane is kept idle and handed to the next
//! session, with its cached memory.

use crate::detect::{probe, DeviceUnavailable};
use cudarc::cublas::result as blas;
use cudarc::cublas::sys as blas_sys;
use cudarc::driver::result as drv;
use cudarc::driver::sys as drv_sys;
use cudarc::driver::CudaContext;
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::sync::{Arc, Mutex, OnceLock};
use zenrt_core::{DType, Error, Result, Tensor};

/// Errors from the CUDA driver, cuBLAS or NVRTC, as zenrt errors.
pub(crate) fn cu_err(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Invalid(format!("CUDA {what} failed: {e:?}"))
}

const KERNELS: &str = include_str!("kernels.cu");

/// Kernel names of `kernels.cu` (looked up once after loading).
const KERNEL_NAMES: &[&str] = &[
    "pool_nhwc_f32",
    "pool_nhwc_fin",
    "dw_nhwc_v1_k3",
    "dw_nhwc_v1_k5",
    "dw_nhwc_v1_k0",
    "dw_nhwc_v2_k3",
    "dw_nhwc_v2_k5",
    "dw_nhwc_v2_k0",
    "dw_nhwc_v4_k3",
    "dw_nhwc_v4_k5",
    "dw_nhwc_v4_k0",
    "dw_nhwc_v8_k3",
    "dw_nhwc_v8_k5",
    "dw_nhwc_v8_k0",
    "unary_f32",
    "f32_to_real",
    "real_to_f32",
    "bias_act_f32",
    "bias_res_act_f32",
    "binary_f32",
    "binary_i64",
    "binary_i32",
    "binary_same_f32",
    "binary_bcast_f32",
    "compare_f32",
    "compare_i64",
    "compare_i32",
    "logic_u8",
    "not_u8",
    "where_1",
    "where_2",
    "where_4",
    "where_8",
    "cast_f32_i64",
    "cast_f32_i32",
    "cast_f32_u8",
    "cast_i64_f32",
    "cast_i64_i32",
    "cast_i64_u8",
    "cast_i32_f32",
    "cast_i32_i64",
    "cast_i32_u8",
    "cast_u8_f32",
    "cast_u8_i64",
    "cast_u8_i32",
    "copy_1",
    "copy_2",
    "copy_4",
    "copy_8",
    "gather_1_i64",
    "gather_2_i64",
    "gather_2_i32",
    "gather_4_i64",
    "gather_8_i64",
    "gather_1_i32",
    "gather_4_i32",
    "gather_8_i32",
    "reduce_f32",
    "row_mean_f32",
    "softmax_f32",
    "layernorm_f32",
    "batchnorm_f32",
    "im2col_f32",
    "depthwise_f32",
    "depthwise_tiled_f32",
    "pool2d_f32",
    "lstm_gates_f32",
    "gru_gates_f32",
    "gru_rh_f32",
    "fill_f32",
    "rnn_seq_f32",
    "attn_softmax_f32",
    "transpose_last2_f32",
];

/// Graph captures (shared) against the driver calls that synchronise the whole device
/// (exclusive: freeing device or pinned memory, creating and destroying lanes with their cuBLAS
/// and cuDNN handles), process-wide. Such a call from one lane while another lane's stream is
/// being captured invalidates that capture: four real-model tests in parallel on the H100
/// (session 8) failed their captures with CUDA_ERROR_STREAM_CAPTURE_INVALIDATED and cuBLAS
/// internal errors while other tests' sessions ran cuDNN Find (its scratch is freed after) or
/// were dropped.
static DEVICE_SYNC: std::sync::RwLock<()> = std::sync::RwLock::new(());

thread_local! {
    /// Captures (read side) and synchronising calls (write side) this thread is inside.
    static HELD: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// Held while a graph is captured (see [`DEVICE_SYNC`]).
pub(crate) struct CaptureGuard(#[allow(dead_code)] Option<std::sync::RwLockReadGuard<'static, ()>>);

/// Keeps [`device_sync`] calls of other threads out until dropped.
pub(crate) fn capture_guard() -> CaptureGuard {
    let (reads, writes) = HELD.get();
    HELD.set((reads + 1, writes));
    // inside this thread's own synchronising call (or capture): the lock is ours already
    let g = if reads + writes == 0 { Some(DEVICE_SYNC.read().unwrap_or_else(|e| e.into_inner())) } else { None };
    CaptureGuard(g)
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let (reads, writes) = HELD.get();
        HELD.set((reads.saturating_sub(1), writes));
    }
}

/// Runs `f`, a driver call that synchronises the device, while no other thread captures a graph.
/// Inside this thread's own capture or synchronising call it runs at once (no self-deadlock; a
/// capture that frees memory is failing anyway).
pub(crate) fn device_sync<R>(f: impl FnOnce() -> R) -> R {
    let (reads, writes) = HELD.get();
    if reads + writes > 0 {
        return f();
    }
    let _g = DEVICE_SYNC.write().unwrap_or_else(|e| e.into_inner());
    HELD.set((0, 1));
    let r = f();
    HELD.set((0, 0));
    r
}

/// The compiled kernel module (once per process, shared by every session on the device).
struct Module {
    funcs: HashMap<&'static str, SendFn>,
    compile_ms: f64,
}

#[derive(Clone, Copy)]
struct SendFn(drv_sys::CUfunction);
// SAFETY: a CUfunction handle is valid on any thread that binds the owning context.
unsafe impl Send for SendFn {}
unsafe impl Sync for SendFn {}

/// Device memory: a caching allocator keyed by rounded size. Buffers return to the cache when
/// their last [`DevBuf`] handle drops; a warm run therefore calls cuMemAlloc only for sizes it
/// has never seen. One pool per lane and all its kernels run on the lane's compute stream, so a
/// freed buffer can be reused at once (the copy streams touch only buffers a replay owns).
pub(crate) struct Pool {
    /// The context the buffers belong to (bound to free them when the pool goes).
    ctx: Arc<CudaContext>,
    pub(crate) free: HashMap<usize, Vec<u64>>,
    /// While a graph is captured: every allocation and free, in order (the arena plan's input).
    pub(crate) record: Option<Vec<crate::graph::Ev>>,
    /// While a graph is captured into a planned arena: where each allocation goes.
    pub(crate) arena: Option<crate::graph::Arena>,
    /// Bytes held from the driver (in use or cached).
    pub reserved: usize,
    /// Bytes handed out now.
    pub in_use: usize,
    /// Highest `in_use` seen since the last reset.
    pub peak: usize,
    /// Number of cuMemAlloc calls.
    pub driver_allocs: usize,
}

impl Pool {
    /// A buffer of `class` bytes from the cache, else from the driver (on out of memory, outside
    /// a capture, the cache is released and the allocation retried once).
    fn take(&mut self, class: usize) -> Result<u64> {
        if let Some(ptr) = self.free.get_mut(&class).and_then(|v| v.pop()) {
            return Ok(ptr);
        }
        // SAFETY: plain device allocation; freed only through the pool.
        let ptr = match unsafe { drv::malloc_sync(class) } {
            Ok(ptr) => ptr,
            Err(e) if self.record.is_some() => {
                // capturing: the cache holds buffers the graph uses; keep them
                return Err(Error::Invalid(format!("CUDA out of memory during graph capture: {e:?}")));
            }
            Err(_) => {
                self.release_cache();
                // SAFETY: as above.
                unsafe { drv::malloc_sync(class) }
                    .map_err(|e| Error::Invalid(format!("CUDA out of memory allocating {class} bytes: {e:?}")))?
            }
        };
        self.reserved += class;
        self.driver_allocs += 1;
        Ok(ptr)
    }

    /// Gives every cached (unreferenced) buffer back to the driver.
    fn release_cache(&mut self) {
        device_sync(|| {
            for (_, v) in self.free.drain() {
                for q in v {
                    // SAFETY: cached buffers are not referenced by anything.
                    unsafe {
                        let _ = drv::free_sync(q);
                    }
                }
            }
        });
        self.reserved = self.in_use;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // the last buffer handle is gone (the lane too): return the cache to the driver
        if self.ctx.bind_to_thread().is_ok() {
            self.release_cache();
        }
    }
}

fn size_class(bytes: usize) -> usize {
    let b = bytes.max(256);
    if b <= 1 << 20 {
        b.div_ceil(256) * 256
    } else {
        // 1/8 steps between powers of two
        let p = usize::BITS - 1 - b.leading_zeros();
        let step = 1usize << (p - 3);
        b.div_ceil(step) * step
    }
}

/// A device allocation, returned to the pool on drop.
pub(crate) struct DevBuf {
    pub ptr: u64,
    pub bytes: usize,
    pub(crate) pool: Arc<Mutex<Pool>>,
    /// False for a piece of a graph's arena (the arena itself goes back to the pool).
    pub(crate) pooled: bool,
}

impl Drop for DevBuf {
    fn drop(&mut self) {
        if !self.pooled {
            return;
        }
        if let Ok(mut p) = self.pool.lock() {
            if let Some(r) = p.record.as_mut() {
                r.push(crate::graph::Ev::Free(self.ptr));
            }
            p.in_use -= self.bytes;
            p.free.entry(self.bytes).or_default().push(self.ptr);
        }
    }
}

/// A tensor in device memory (row-major, contiguous), possibly a view into a shared buffer
/// (Reshape/Flatten/Squeeze/Unsqueeze make views without copying).
#[derive(Clone)]
pub struct GTensor {
    pub(crate) buf: Arc<DevBuf>,
    pub(crate) off: usize,
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: DType,
    /// A 4-D tensor stored channels-last: `shape` stays the logical NCHW shape, the memory is
    /// [N, H, W, C] (see `ops::Layout`).
    pub(crate) nhwc: bool,
}

impl GTensor {
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Device address of the first element.
    pub(crate) fn ptr(&self) -> u64 {
        self.buf.ptr + self.off as u64
    }
    /// The same data under another shape (same element count), no copy.
    pub(crate) fn view(&self, shape: Vec<usize>) -> GTensor {
        GTensor { buf: self.buf.clone(), off: self.off, shape, dtype: self.dtype, nhwc: false }
    }
}

/// Which precision the GPU executor computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// Full fp32 (cuBLAS SGEMM without TF32).
    #[default]
    F32,
    /// fp32 tensors with TF32 tensor-core matrix products (about 1e-3 relative error).
    Tf32,
    /// Float tensors (weights and activations) stored as IEEE fp16; kernels compute in f32,
    /// matrix products use fp16 tensor cores with f32 accumulation.
    F16,
    /// As `F16` with bfloat16 storage (fp32's range, 8-bit mantissa).
    Bf16,
}

impl Precision {
    /// Bytes per element of a float tensor on the device.
    pub fn float_bytes(self) -> usize {
        match self {
            Precision::F32 | Precision::Tf32 => 4,
            Precision::F16 | Precision::Bf16 => 2,
        }
    }

    /// The `real` storage type and its conversions, put in front of kernels.cu.
    fn prelude(self) -> &'static str {
        const HALF: &str = "struct real { unsigned short u; };\n";
        match self {
            Precision::F32 | Precision::Tf32 => {
                "typedef float real;\n__device__ __forceinline__ float ld(float v) { return v; }\n\
                 __device__ __forceinline__ float st(float v) { return v; }\n"
            }
            // Stores round to nearest even and saturate: a finite f32 beyond the type's range becomes
            // its largest finite value, not infinity (exported attention masks multiply
            // `finfo(float32).min` by 0, which must stay 0); infinities and NaN are kept.
            Precision::F16 => concat_half(
                HALF,
                "__device__ __forceinline__ float ld(real v) { float f; asm(\"cvt.f32.f16 %0, %1;\" : \"=f\"(f) : \"h\"(v.u)); return f; }\n\
                 __device__ __forceinline__ real st(float f) { real r;\n\
                 if (fabsf(f) <= 3.4028235e38f) f = fminf(fmaxf(f, -65504.f), 65504.f);\n\
                 asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(r.u) : \"f\"(f)); return r; }\n",
            ),
            // bf16 = the top 16 bits of an f32.
            Precision::Bf16 => concat_half(
                HALF,
                "__device__ __forceinline__ float ld(real v) { return __uint_as_float(((unsigned)v.u) << 16); }\n\
                 __device__ __forceinline__ real st(float f) { unsigned b = __float_as_uint(f); real r;\n\
                 if ((b & 0x7fffffffu) > 0x7f800000u) { r.u = (unsigned short)((b >> 16) | 0x40u); return r; }\n\
                 r.u = (unsigned short)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);\n\
                 if ((r.u & 0x7fffu) == 0x7f80u && (b & 0x7fffffffu) != 0x7f800000u) r.u -= 1;\n\
                 return r; }\n",
            ),
        }
    }
}

/// `a` followed by `b`, leaked once per precision (the kernel source lives for the process).
fn concat_half(a: &str, b: &str) -> &'static str {
    Box::leak(format!("{a}{b}").into_boxed_str())
}

/// One lane of a GPU: context, compute stream, copy streams, cuBLAS handle, kernels, allocator.
pub struct Gpu {
    pub(crate) ctx: Arc<CudaContext>,
    /// Storage and math of float tensors.
    pub precision: Precision,
    pub(crate) stream: drv_sys::CUstream,
    /// Upload and download streams of pipelined runs ([`crate::CudaPlan::run_many`]).
    pub(crate) copy: [drv_sys::CUstream; 2],
    blas: blas_sys::cublasHandle_t,
    module: &'static Module,
    pub(crate) pool: Arc<Mutex<Pool>>,
    /// Serialises the runs of this lane (one compute stream).
    pub(crate) run_lock: Mutex<()>,
    /// Device name and compute capability, for messages.
    pub name: String,
    pub ordinal: usize,
    sms: u32,
    /// Device-side error flag for index checks (one i32).
    bad_flag: u64,
    /// cuDNN for convolutions, or why it is not used.
    pub(crate) cudnn: std::result::Result<crate::cudnn::Cudnn, String>,
    /// Pinned staging buffers of the graph being captured (`Some` while capturing).
    pub(crate) staging: Mutex<Option<crate::graph::Staging>>,
}

// SAFETY: the raw stream and cuBLAS handle are only used with `run_lock` held (or during
// construction), after binding the context to the calling thread.
unsafe impl Send for Gpu {}
unsafe impl Sync for Gpu {}

/// The device's primary context, retained for the whole process: the kernel module and
/// generated kernels are loaded into it once, so it must outlive every lane.
fn context(ordinal: usize) -> Result<Arc<CudaContext>> {
    static CONTEXTS: OnceLock<Mutex<HashMap<usize, Arc<CudaContext>>>> = OnceLock::new();
    let map = CONTEXTS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().map_err(|_| Error::Invalid("CUDA context table poisoned".into()))?;
    if let Some(c) = map.get(&ordinal) {
        return Ok(c.clone());
    }
    let c = CudaContext::new(ordinal).map_err(|e| cu_err("context", e))?;
    map.insert(ordinal, c.clone());
    Ok(c)
}

type ModuleKey = ((i32, i32), usize);
static MODULES: OnceLock<Mutex<HashMap<ModuleKey, &'static Module>>> = OnceLock::new();

fn compile_module(cc: (i32, i32), precision: Precision) -> Result<&'static Module> {
    let map = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().map_err(|_| Error::Invalid("CUDA kernel cache poisoned".into()))?;
    // fp32 and TF32 share the f32 kernels; fp16 and bf16 each get their own build
    let key = (cc, if precision == Precision::Tf32 { 0 } else { precision as usize });
    if let Some(m) = map.get(&key) {
        return Ok(m);
    }
    let t0 = std::time::Instant::now();
    let arch: &'static str = Box::leak(format!("compute_{}{}", cc.0, cc.1).into_boxed_str());
    let opts = cudarc::nvrtc::CompileOptions { arch: Some(arch), ..Default::default() };
    let src = format!("{}{KERNELS}", precision.prelude());
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(src, opts).map_err(|e| cu_err("NVRTC compile", e))?;
    let src = CString::new(ptx.to_src()).map_err(|e| cu_err("PTX", e))?;
    // SAFETY: `src` is a NUL-terminated PTX image; the context is current on this thread.
    let module = unsafe { drv::module::load_data(src.as_ptr() as *const c_void) }.map_err(|e| cu_err("load PTX", e))?;
    let mut funcs = HashMap::new();
    for &name in KERNEL_NAMES {
        let cname = CString::new(name).map_err(|e| cu_err("kernel name", e))?;
        // SAFETY: the module is loaded and never unloaded.
        let f = unsafe { drv::module::get_function(module, cname) }.map_err(|e| cu_err(name, e))?;
        funcs.insert(name, SendFn(f));
    }
    let m: &'static Module = Box::leak(Box::new(Module { funcs, compile_ms: t0.elapsed().as_secs_f64() * 1e3 }));
    map.insert(key, m);
    Ok(m)
}

/// A kernel compiled at run time from generated source ([`Gpu::jit`]).
#[derive(Clone, Copy)]
pub(crate) struct JitFn(SendFn);

type JitKey = ((i32, i32), usize, String);
static JIT: OnceLock<Mutex<HashMap<JitKey, JitFn>>> = OnceLock::new();

/// A kernel argument: anything passed by value.
pub(crate) trait KArg {
    fn as_arg(&self) -> *mut c_void;
}
impl<T: Copy> KArg for T {
    fn as_arg(&self) -> *mut c_void {
        self as *const T as *mut c_void
    }
}

/// Launch shape for `n` independent items (grid-stride kernels).
pub(crate) fn grid_for(n: usize, sms: u32) -> (u32, u32) {
    let block = 256u32;
    let blocks = n.div_ceil(block as usize).clamp(1, (sms as usize) * 32) as u32;
    (blocks, block)
}

impl Gpu {
    /// Opens device `ordinal`: probes the driver and libraries first (absence is an error, never
    /// a panic), then creates the context, stream and cuBLAS handle and compiles the kernels.
    pub fn open(ordinal: usize, precision: Precision) -> std::result::Result<Gpu, DeviceUnavailable> {
        let info = probe(ordinal)?;
        let r = device_sync(|| std::panic::catch_unwind(|| Gpu::open_unchecked(ordinal, precision)));
        match r {
            Ok(Ok(g)) => Ok(g),
            Ok(Err(e)) => Err(DeviceUnavailable::Init(format!("{} ({}): {e}", info.name, ordinal))),
            Err(_) => Err(DeviceUnavailable::Init(format!("{}: a CUDA library call panicked", info.name))),
        }
    }

    fn open_unchecked(ordinal: usize, precision: Precision) -> Result<Gpu> {
        let ctx = context(ordinal)?;
        ctx.bind_to_thread().map_err(|e| cu_err("bind context", e))?;
        let name = ctx.name().map_err(|e| cu_err("device name", e))?;
        let cc = ctx.compute_capability().map_err(|e| cu_err("compute capability", e))?;
        let sms = ctx
            .attribute(drv_sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(|e| cu_err("SM count", e))? as u32;
        let new_stream = || drv::stream::create(drv::stream::StreamKind::NonBlocking).map_err(|e| cu_err("stream", e));
        let stream = new_stream()?;
        let copy = [new_stream()?, new_stream()?];
        let handle = blas::create_handle().map_err(|e| cu_err("cuBLAS handle", e))?;
        // SAFETY: handle and stream were just created on this context.
        unsafe {
            blas::set_stream(handle, stream as _).map_err(|e| cu_err("cuBLAS stream", e))?;
            let mode = match precision {
                Precision::F32 | Precision::F16 | Precision::Bf16 => blas_sys::cublasMath_t::CUBLAS_DEFAULT_MATH,
                Precision::Tf32 => blas_sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH,
            };
            blas_sys::cublasSetMathMode(handle, mode).result().map_err(|e| cu_err("cuBLAS math mode", e))?;
        }
        let module = compile_module(cc, precision)?;
        let dev_name = format!("{name} (sm_{}{})", cc.0, cc.1);
        let cudnn = crate::cudnn::Cudnn::open(stream as *mut c_void, precision, &dev_name);
        let pool = Arc::new(Mutex::new(Pool {
            ctx: ctx.clone(),
            free: HashMap::new(),
            record: None,
            arena: None,
            reserved: 0,
            in_use: 0,
            peak: 0,
            driver_allocs: 0,
        }));
        // SAFETY: plain device allocation of 256 bytes for the error flag.
        let bad_flag = unsafe { drv::malloc_sync(256) }.map_err(|e| cu_err("cuMemAlloc", e))?;
        Ok(Gpu {
            ctx,
            precision,
            stream,
            copy,
            blas: handle,
            module,
            pool,
            run_lock: Mutex::new(()),
            name: dev_name,
            ordinal,
            sms,
            bad_flag,
            cudnn,
            staging: Mutex::new(None),
        })
    }

    /// The convolution path in use: `cuDNN <version>` or `im2col + cuBLAS (<why>)`.
    pub fn conv_path(&self) -> String {
        match &self.cudnn {
            Ok(c) => match c.broken() {
                Some(why) => format!("im2col + cuBLAS (cuDNN failed: {why})"),
                None => format!("cuDNN {}", c.version),
            },
            Err(why) => format!("im2col + cuBLAS ({why})"),
        }
    }

    /// Milliseconds NVRTC took to compile the kernels (once per process).
    pub fn compile_ms(&self) -> f64 {
        self.module.compile_ms
    }

    /// Makes this device's context current on the calling thread.
    pub(crate) fn bind(&self) -> Result<()> {
        self.ctx.bind_to_thread().map_err(|e| cu_err("bind context", e))
    }

    /// Allocates `bytes` (uninitialised) from the caching pool (from the planned arena while a
    /// graph is captured into one).
    pub(crate) fn alloc_bytes(&self, bytes: usize) -> Result<Arc<DevBuf>> {
        let class = size_class(bytes);
        let mut p = self.pool.lock().map_err(|_| Error::Invalid("CUDA pool poisoned".into()))?;
        if let Some(a) = p.arena.as_mut() {
            let ptr = a.take(class)?;
            return Ok(Arc::new(DevBuf { ptr, bytes: class, pool: self.pool.clone(), pooled: false }));
        }
        let ptr = p.take(class)?;
        p.in_use += class;
        p.peak = p.peak.max(p.in_use);
        if let Some(r) = p.record.as_mut() {
            r.push(crate::graph::Ev::Alloc(ptr, class));
        }
        Ok(Arc::new(DevBuf { ptr, bytes: class, pool: self.pool.clone(), pooled: true }))
    }

    /// Allocates `bytes` from the pool outside any capture's record or arena: a buffer a graph
    /// replay reads or writes at a fixed address (its inputs, the pipeline's staging buffers).
    pub(crate) fn alloc_fixed(&self, bytes: usize) -> Result<Arc<DevBuf>> {
        let class = size_class(bytes);
        let mut p = self.pool.lock().map_err(|_| Error::Invalid("CUDA pool poisoned".into()))?;
        let ptr = p.take(class)?;
        p.in_use += class;
        p.peak = p.peak.max(p.in_use);
        Ok(Arc::new(DevBuf { ptr, bytes: class, pool: self.pool.clone(), pooled: true }))
    }

    /// Bytes per element of `dtype` on the device (float32 tensors are stored in the
    /// session's precision).
    pub(crate) fn esize(&self, dtype: DType) -> usize {
        if dtype == DType::F32 {
            self.precision.float_bytes()
        } else {
            dtype.size()
        }
    }

    /// Whether float tensors are stored in 2 bytes (fp16 / bf16).
    fn half(&self) -> bool {
        self.precision.float_bytes() == 2
    }

    /// A new uninitialised device tensor.
    pub(crate) fn empty(&self, dtype: DType, shape: Vec<usize>) -> Result<GTensor> {
        let n: usize = shape.iter().product();
        let buf = self.alloc_bytes(n * self.esize(dtype))?;
        Ok(GTensor { buf, off: 0, shape, dtype, nhwc: false })
    }

    /// Whether `dtype` is stored narrower on the device than on the host: f32 with fp16/bf16
    /// storage, converted on the device at the boundary.
    pub(crate) fn narrowed(&self, dtype: DType) -> bool {
        self.half() && dtype == DType::F32
    }

    /// Converts the `g.len()` f32 values at device address `src` into `g`'s half storage (queued).
    pub(crate) fn narrow(&self, src: u64, g: &GTensor) -> Result<()> {
        let n = g.len();
        self.launch_n("f32_to_real", n, &[&(n as i64), &src, &g.ptr()])
    }

    /// An f32 copy of the half-storage tensor `g` on the device (queued).
    pub(crate) fn widen(&self, g: &GTensor) -> Result<Arc<DevBuf>> {
        let n = g.len();
        let tmp = self.alloc_bytes(n * 4)?;
        if n > 0 {
            self.launch_n("real_to_f32", n, &[&(n as i64), &g.ptr(), &tmp.ptr])?;
        }
        Ok(tmp)
    }

    /// Copies a host tensor to the device: during a graph capture through a pinned staging
    /// buffer that the graph keeps, as a recorded async copy; f32 into half storage through an
    /// f32 buffer converted on the device.
    pub fn upload(&self, t: &Tensor) -> Result<GTensor> {
        if self.capturing() {
            return self.stage_in(t).map(|(g, _)| g);
        }
        let g = self.empty(t.dtype(), t.shape().to_vec())?;
        let src = crate::graph::host_bytes(t)?;
        if src.is_empty() {
            return Ok(g);
        }
        let tmp = if self.narrowed(t.dtype()) { Some(self.alloc_bytes(src.len())?) } else { None };
        let dst = tmp.as_ref().map_or(g.ptr(), |b| b.ptr);
        // The copy goes on our stream and is waited for: a plain cuMemcpyHtoD from pageable
        // memory may return before its DMA lands and is not ordered with a non-blocking stream,
        // so a later kernel could read stale data (seen on the H100 as nondeterministic errors
        // in half mode); a pooled destination's last reader may also still be queued.
        // SAFETY: `dst` holds src.len() bytes; the host slice outlives the copy (synchronised below).
        unsafe { drv::memcpy_htod_async(dst, src, self.stream) }.map_err(|e| cu_err("upload", e))?;
        if tmp.is_some() {
            self.narrow(dst, &g)?;
        }
        self.sync()?;
        Ok(g)
    }

    /// Copies a device tensor back to the host (waits for the stream).
    pub fn download(&self, g: &GTensor) -> Result<Tensor> {
        let wide = if self.narrowed(g.dtype) { Some(self.widen(g)?) } else { None };
        let src = wide.as_ref().map_or(g.ptr(), |b| b.ptr);
        self.sync()?;
        crate::graph::host_tensor(g.dtype, g.shape.clone(), |bytes| {
            if !bytes.is_empty() {
                // SAFETY: the device range holds bytes.len() bytes (f32 after widening).
                unsafe { drv::memcpy_dtoh_sync(bytes, src) }.map_err(|e| cu_err("download", e))?;
            }
            Ok(())
        })
    }

    /// Waits for all queued work and reports asynchronous kernel errors.
    pub fn sync(&self) -> Result<()> {
        if self.capturing() {
            return Err(Error::Unsupported("CUDA graph capture: the run synchronises (reads device data)".into()));
        }
        // SAFETY: our own stream.
        unsafe { drv::stream::synchronize(self.stream) }.map_err(|e| cu_err("stream synchronize", e))
    }

    /// Compiles `src` (after the precision's `real` prelude) with NVRTC and returns its kernel
    /// `name`; cached per process by (compute capability, storage, source), so each generated
    /// kernel is compiled once.
    pub(crate) fn jit(&self, name: &str, src: &str) -> Result<JitFn> {
        let cc = self.ctx.compute_capability().map_err(|e| cu_err("compute capability", e))?;
        let p = if self.precision == Precision::Tf32 { 0 } else { self.precision as usize };
        let key = (cc, p, src.to_string());
        let map = JIT.get_or_init(|| Mutex::new(HashMap::new()));
        let mut map = map.lock().map_err(|_| Error::Invalid("CUDA JIT cache poisoned".into()))?;
        if let Some(f) = map.get(&key) {
            return Ok(*f);
        }
        let arch: &'static str = Box::leak(format!("compute_{}{}", cc.0, cc.1).into_boxed_str());
        let opts = cudarc::nvrtc::CompileOptions { arch: Some(arch), ..Default::default() };
        let full = format!("{}{src}", self.precision.prelude());
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(full, opts).map_err(|e| cu_err("NVRTC compile", e))?;
        let image = CString::new(ptx.to_src()).map_err(|e| cu_err("PTX", e))?;
        self.bind()?;
        // SAFETY: `image` is a NUL-terminated PTX image; the context is current on this thread.
        let module =
            unsafe { drv::module::load_data(image.as_ptr() as *const c_void) }.map_err(|e| cu_err("load PTX", e))?;
        let cname = CString::new(name).map_err(|e| cu_err("kernel name", e))?;
        // SAFETY: the module is loaded and never unloaded.
        let f = JitFn(SendFn(unsafe { drv::module::get_function(module, cname) }.map_err(|e| cu_err(name, e))?));
        map.insert(key, f);
        Ok(f)
    }

    /// Launches a [`Gpu::jit`] kernel.
    pub(crate) fn launch_jit(&self, f: JitFn, grid: u32, block: u32, args: &[&dyn KArg]) -> Result<()> {
        self.launch_fn(f.0, "generated kernel", grid, block, 0, args)
    }

    /// Launches kernel `name` with `args` (each passed by value).
    pub(crate) fn launch(&self, name: &str, grid: u32, block: u32, args: &[&dyn KArg]) -> Result<()> {
        self.launch_smem(name, grid, block, 0, args)
    }

    /// [`Gpu::launch`] with `smem` bytes of dynamic shared memory (at most 48 KiB).
    pub(crate) fn launch_smem(&self, name: &str, grid: u32, block: u32, smem: u32, args: &[&dyn KArg]) -> Result<()> {
        let f =
            self.module.funcs.get(name).ok_or_else(|| Error::Invalid(format!("CUDA kernel {name} not compiled")))?;
        self.launch_fn(*f, name, grid, block, smem, args)
    }

    fn launch_fn(&self, f: SendFn, name: &str, grid: u32, block: u32, smem: u32, args: &[&dyn KArg]) -> Result<()> {
        // `<dyn KArg>::as_arg` explicitly: `a.as_arg()` on `&&dyn KArg` would pick the blanket impl
        // for the reference type and pass the address of the fat pointer.
        let mut params: Vec<*mut c_void> = args.iter().map(|a| <dyn KArg as KArg>::as_arg(*a)).collect();
        // SAFETY: the argument list matches the kernel's signature in kernels.cu (each call site
        // passes the declared types in order); pointers are live device buffers.
        unsafe { drv::launch_kernel(f.0, (grid.max(1), 1, 1), (block, 1, 1), smem, self.stream, &mut params) }
            .map_err(|e| cu_err(&format!("launch {name}"), e))
    }

    /// Launches an elementwise (grid-stride) kernel over `n` items.
    pub(crate) fn launch_n(&self, name: &str, n: usize, args: &[&dyn KArg]) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let (g, b) = grid_for(n, self.sms);
        self.launch(name, g, b, args)
    }

    /// Number of streaming multiprocessors.
    pub(crate) fn sms(&self) -> u32 {
        self.sms
    }

    /// The device-side index-error flag: cleared before, read after index kernels.
    pub(crate) fn bad_flag(&self) -> u64 {
        self.bad_flag
    }
    pub(crate) fn clear_bad_flag(&self) -> Result<()> {
        // SAFETY: the flag buffer is 256 bytes.
        unsafe { drv::memset_d8_async(self.bad_flag, 0, 4, self.stream) }.map_err(|e| cu_err("memset", e))
    }
    pub(crate) fn read_bad_flag(&self) -> Result<bool> {
        self.sync()?;
        let mut v = [0i32; 1];
        // SAFETY: reads 4 bytes of the flag buffer.
        unsafe { drv::memcpy_dtoh_sync(&mut v, self.bad_flag) }.map_err(|e| cu_err("read flag", e))?;
        Ok(v[0] != 0)
    }

    /// Row-major strided-batched GEMM (SGEMM; fp16/bf16 storage: GemmEx with f32 compute): for each batch b, C_b[m,n] = alpha * op(A_b)[m,k] * op(B_b)[k,n] + beta * C_b.
    /// `lda`/`ldb` are the row lengths of A and B as stored; strides are in elements (0 = shared).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sgemm(
        &self,
        ta: bool,
        tb: bool,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: u64,
        lda: usize,
        sa: usize,
        b: u64,
        ldb: usize,
        sb: usize,
        beta: f32,
        c: u64,
        sc: usize,
        batch: usize,
    ) -> Result<()> {
        if m == 0 || n == 0 || batch == 0 {
            return Ok(());
        }
        let to_i = |v: usize, what: &str| -> Result<i32> {
            i32::try_from(v).map_err(|_| Error::Unsupported(format!("CUDA GEMM: {what} = {v} exceeds i32")))
        };
        use blas_sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
        // Row-major C = A B  <=>  column-major C^T = B^T A^T: pass B first.
        let opb = if tb { CUBLAS_OP_T } else { CUBLAS_OP_N };
        let opa = if ta { CUBLAS_OP_T } else { CUBLAS_OP_N };
        if self.half() {
            let dt = if self.precision == Precision::Bf16 {
                blas_sys::cudaDataType::CUDA_R_16BF
            } else {
                blas_sys::cudaDataType::CUDA_R_16F
            };
            // SAFETY: as below; half inputs and output, f32 scalars and accumulation (tensor cores).
            return unsafe {
                blas::gemm_strided_batched_ex(
                    self.blas,
                    opb,
                    opa,
                    to_i(n, "n")?,
                    to_i(m, "m")?,
                    to_i(k, "k")?,
                    &alpha as *const f32 as *const c_void,
                    b as *const c_void,
                    dt,
                    to_i(ldb, "ldb")?,
                    sb as i64,
                    a as *const c_void,
                    dt,
                    to_i(lda, "lda")?,
                    sa as i64,
                    &beta as *const f32 as *const c_void,
                    c as *mut c_void,
                    dt,
                    to_i(n, "ldc")?,
                    sc as i64,
                    to_i(batch, "batch")?,
                    blas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                    blas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                )
            }
            .map_err(|e| cu_err("cublasGemmStridedBatchedEx", e));
        }
        // SAFETY: pointers address device buffers of the sizes implied by the shapes (checked by callers).
        unsafe {
            blas::sgemm_strided_batched(
                self.blas,
                opb,
                opa,
                to_i(n, "n")?,
                to_i(m, "m")?,
                to_i(k, "k")?,
                &alpha,
                b as *const f32,
                to_i(ldb, "ldb")?,
                sb as i64,
                a as *const f32,
                to_i(lda, "lda")?,
                sa as i64,
                &beta,
                c as *mut f32,
                to_i(n, "ldc")?,
                sc as i64,
                to_i(batch, "batch")?,
            )
        }
        .map_err(|e| cu_err("cublasSgemmStridedBatched", e))
    }

    /// Device-to-device copy of `bytes`.
    pub(crate) fn copy_d2d(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: both ranges are live device buffers of at least `bytes`.
        unsafe { drv::memcpy_dtod_async(dst, src, bytes, self.stream) }.map_err(|e| cu_err("memcpy", e))
    }

    /// Memory statistics: (bytes reserved from the driver, peak bytes in use, driver allocations).
    pub fn memory_stats(&self) -> (usize, usize, usize) {
        self.pool.lock().map(|p| (p.reserved, p.peak, p.driver_allocs)).unwrap_or((0, 0, 0))
    }

    /// The largest cuDNN Find scratch buffer so far (bytes): taken from the driver only while
    /// Find runs (once per convolution shape), so it is not in [`Gpu::memory_stats`].
    pub fn find_scratch_bytes(&self) -> usize {
        self.cudnn.as_ref().map(|c| c.find_scratch_max()).unwrap_or(0)
    }

    /// Resets the peak-in-use counter.
    pub fn reset_peak(&self) {
        if let Ok(mut p) = self.pool.lock() {
            p.peak = p.in_use;
        }
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        let _ = self.bind();
        let _ = self.sync();
        device_sync(|| {
            // cuDNN's handle goes before the stream it uses
            self.cudnn = Err("closed".into());
            // SAFETY: created in open_unchecked and used by nothing else now.
            unsafe {
                let _ = blas::destroy_handle(self.blas);
                let _ = drv::stream::destroy(self.stream);
                for s in self.copy {
                    let _ = drv::stream::synchronize(s);
                    let _ = drv::stream::destroy(s);
                }
                let _ = drv::free_sync(self.bad_flag);
            }
        });
        // Cached buffers go back to the driver with the pool, once no buffer handle is left.
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_the_request_with_little_waste() {
        for b in [0usize, 1, 255, 256, 257, 4096, 1 << 20, (1 << 20) + 1, 3 << 20, 123_456_789] {
            let c = size_class(b);
            assert!(c >= b.max(256), "{b} -> {c}");
            assert!(c as f64 <= (b.max(256) as f64) * 1.25 + 256.0, "{b} -> {c} wastes too much");
            assert_eq!(size_class(c), c, "classes are fixed points");
        }
    }
}
