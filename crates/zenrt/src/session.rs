//! [`Session`]: a model imported, planned and ready to run.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use zenrt_core::passes::PassOptions;
use zenrt_core::{Error, Model, Plan, ReferenceBackend, Result, StepTiming, Tensor, Value, ValueInfo};

/// Options for creating a [`Session`].
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Which graph optimization passes run (all by default).
    pub passes: PassOptions,
    /// Threads for parallel kernels (`None`: every available core). Sessions asking for the same
    /// count share one process-wide pool.
    pub intra_op_threads: Option<usize>,
    /// Where the model runs (the CPU by default).
    pub device: Device,
    /// CUDA only: let cuBLAS use TF32 tensor cores for fp32 matrix products (faster, about 1e-3
    /// relative error instead of fp32's 1e-6). Off by default.
    pub allow_tf32: bool,
    /// CUDA only: run nodes that have no CUDA kernel on the CPU (inputs downloaded, outputs
    /// uploaded) instead of failing. Off by default; `Session::placements` reports such nodes.
    pub cpu_fallback: bool,
    /// Storage precision of float tensors. CUDA only for `Fp16`/`Bf16` (a CPU session refuses
    /// them): weights are converted once at upload, activations stored in that type, kernels
    /// compute in f32; inputs and outputs stay f32. `Fp32` by default.
    pub precision: Precision,
}

/// Storage precision of float tensors (see [`SessionOptions::precision`]). Parsed from `fp32`,
/// `fp16` or `bf16`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    Fp32,
    Fp16,
    Bf16,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Precision> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" => Ok(Precision::Fp32),
            "fp16" | "f16" | "float16" | "half" => Ok(Precision::Fp16),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(Error::Invalid(format!("unknown precision '{s}' (expected fp32, fp16 or bf16)"))),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
        })
    }
}

/// Passes whose fused ops have no CUDA kernel: a GPU session skips them (`FusedElementwise` and
/// `FusedAttention` got CUDA kernels in session 4; `FusedExpandDepthwise` is a CPU cache
/// optimisation; `fuse_conv_add` is left to the CUDA backend's own residual fusion of plain
/// Convs, `exec.rs`; `fuse_matmul_add`'s residual input has no CUDA kernel).
pub const CPU_ONLY_PASSES: [&str; 3] = ["fuse_expand_depthwise", "fuse_conv_add", "fuse_matmul_add"];

/// The passes a session on `device` runs: `passes`, less those whose fused ops the device has no
/// kernel for (on CUDA: [`CPU_ONLY_PASSES`]).
pub fn passes_for(device: Device, passes: &PassOptions) -> PassOptions {
    let mut passes = passes.clone();
    if device != Device::Cpu {
        passes.disabled.extend(CPU_ONLY_PASSES.iter().map(|p| p.to_string()));
    }
    passes
}

/// The device a [`Session`] runs on. Parsed from `cpu`, `cuda` or `cuda:N`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal (needs the `cuda` feature and a driver at run time).
    Cuda(usize),
}

impl std::str::FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Device> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            _ => match t.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => Ok(Device::Cuda(n)),
                None => Err(Error::Invalid(format!("unknown device '{s}' (expected cpu, cuda or cuda:N)"))),
            },
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// A loaded model, ready to run many times (`run` takes `&self`; a session can be shared across threads).
pub struct Session {
    model: Model,
    plan: Plan,
    inputs: Vec<ValueInfo>,
    /// The GPU executor when the session runs on a CUDA device.
    #[cfg(feature = "cuda")]
    cuda: Option<zenrt_cuda::CudaPlan>,
}

/// Named outputs of one run, in the graph's output order.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub names: Vec<String>,
    /// One value per output; almost always a tensor (see [`Outputs::get`]).
    pub values: Vec<Value>,
}

impl Outputs {
    /// The output called `name`, if it is a tensor.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.get_value(name).and_then(|v| v.as_tensor().ok())
    }
    /// The output called `name`, whatever its kind (tensor, sequence, optional).
    pub fn get_value(&self, name: &str) -> Option<&Value> {
        self.names.iter().position(|n| n == name).map(|i| &self.values[i])
    }
    /// Output `i` (graph order) if it is a tensor.
    pub fn tensor(&self, i: usize) -> Option<&Tensor> {
        self.values.get(i).and_then(|v| v.as_tensor().ok())
    }
    /// (name, value) pairs in graph order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names.iter().map(|s| s.as_str()).zip(&self.values)
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Session {
    /// Opens an ONNX model file (external data is read from the file's folder).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Session> {
        Session::from_file_with(path, &SessionOptions::default())
    }

    /// Opens an ONNX model file with options.
    pub fn from_file_with(path: impl AsRef<Path>, opts: &SessionOptions) -> Result<Session> {
        Session::from_model(zenrt_onnx::load_model(path.as_ref())?, opts).map_err(|e| match e {
            e @ (Error::Io { .. } | Error::Decode { .. } | Error::Context { .. }) => e,
            e => e.context(path.as_ref().display().to_string()),
        })
    }

    /// Opens an ONNX model held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Session> {
        Session::from_model(zenrt_onnx::load_model_bytes(bytes, &Default::default())?, &SessionOptions::default())
    }

    /// Plans an already imported model.
    pub fn from_model(model: Model, opts: &SessionOptions) -> Result<Session> {
        if opts.device == Device::Cpu && opts.precision != Precision::Fp32 {
            return Err(Error::Unsupported(format!(
                "precision {} runs on CUDA devices only (the CPU backend computes in fp32)",
                opts.precision
            )));
        }
        let mut optimized = model.graph.clone();
        zenrt_core::passes::optimize(&mut optimized, &passes_for(opts.device, &opts.passes))?;
        let graph = Arc::new(optimized);
        let threads = opts.intra_op_threads.unwrap_or_else(zenrt_core::threads::available);
        // Weight packing and transforms at plan time split over the session's own pool.
        let pool = zenrt_core::threads::pool(threads);
        let mut plan = zenrt_core::threads::run_in(pool.as_deref(), || {
            Plan::compile(graph.clone(), &ReferenceBackend, &HashSet::new())
        })?;
        plan.set_pool(pool);
        let inputs = model.graph.real_inputs().cloned().collect();
        let mut model = model;
        #[cfg(feature = "cuda")]
        let cuda = match opts.device {
            Device::Cpu => None,
            Device::Cuda(n) => {
                let precision = match opts.precision {
                    Precision::Fp16 => zenrt_cuda::Precision::F16,
                    Precision::Bf16 => zenrt_cuda::Precision::Bf16,
                    Precision::Fp32 if opts.allow_tf32 => zenrt_cuda::Precision::Tf32,
                    Precision::Fp32 => zenrt_cuda::Precision::F32,
                };
                // a lane of its own: streams, cuBLAS/cuDNN handles and allocator (docs/cuda.md)
                let gpu = zenrt_cuda::lane(n, precision).map_err(|e| Error::Unsupported(e.to_string()))?;
                let order: Vec<_> = plan.nodes().cloned().collect();
                Some(zenrt_cuda::CudaPlan::compile(gpu, &graph, &order, opts.cpu_fallback)?)
            }
        };
        #[cfg(not(feature = "cuda"))]
        if let Device::Cuda(_) = opts.device {
            return Err(Error::Unsupported("this zenrt was built without the `cuda` feature".into()));
        }
        // The plan holds the constants it runs on (packed weights released the raw ones); the
        // imported model's copies would only keep that memory resident.
        model.graph.initializers.clear();
        Ok(Session {
            model,
            plan,
            inputs,
            #[cfg(feature = "cuda")]
            cuda,
        })
    }

    /// The device this session runs on.
    pub fn device(&self) -> Device {
        #[cfg(feature = "cuda")]
        if let Some(c) = &self.cuda {
            return Device::Cuda(c.gpu().ordinal);
        }
        Device::Cpu
    }

    /// The CUDA executor, when the session runs on a GPU.
    #[cfg(feature = "cuda")]
    pub fn cuda_plan(&self) -> Option<&zenrt_cuda::CudaPlan> {
        self.cuda.as_ref()
    }

    /// The model's inputs (initializers excluded), with symbolic dims.
    pub fn inputs(&self) -> &[ValueInfo] {
        &self.inputs
    }

    /// The model's outputs.
    pub fn outputs(&self) -> &[ValueInfo] {
        &self.model.graph.outputs
    }

    /// The imported model, without its initializers (released once planned: see [`Session::plan`]).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// How many threads this session's kernels use.
    pub fn threads(&self) -> usize {
        self.plan.threads()
    }

    /// The execution plan (of the optimized graph).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The static memory plan (value sizes and lifetimes, arena layout) for the given input
    /// shapes, with symbolic dims bound from them and from `dims`; nothing runs.
    pub fn memory_plan(
        &self,
        input_shapes: &[(String, Vec<usize>)],
        dims: &std::collections::HashMap<String, usize>,
    ) -> Result<zenrt_core::MemoryPlan> {
        let mut bound = self.plan.bind_dims(input_shapes)?;
        bound.extend(dims.iter().map(|(k, v)| (k.clone(), *v)));
        Ok(self.plan.memory_plan(&bound))
    }

    /// Runs the model on named inputs.
    pub fn run<S: Into<String>>(&self, inputs: impl IntoIterator<Item = (S, Tensor)>) -> Result<Outputs> {
        self.run_values(inputs.into_iter().map(|(n, t)| (n, Value::from(t))))
    }

    /// Runs the model on named values (for models taking sequences or optionals).
    pub fn run_values<S: Into<String>>(&self, inputs: impl IntoIterator<Item = (S, Value)>) -> Result<Outputs> {
        let inputs: Vec<(String, Value)> = inputs.into_iter().map(|(n, t)| (n.into(), t)).collect();
        #[cfg(feature = "cuda")]
        if let Some(c) = &self.cuda {
            let ts = inputs
                .into_iter()
                .map(|(n, v)| match v {
                    Value::Tensor(_) => Ok((n, v.into_tensor()?)),
                    other => Err(Error::Unsupported(format!("CUDA backend: {} input '{n}'", other.kind_name()))),
                })
                .collect::<Result<Vec<_>>>()?;
            let values = c.run(ts)?.into_iter().map(Value::from).collect();
            return Ok(Outputs { names: self.model.graph.outputs.iter().map(|o| o.name.clone()).collect(), values });
        }
        let values = self.plan.run_values(inputs)?;
        Ok(Outputs { names: self.model.graph.outputs.iter().map(|o| o.name.clone()).collect(), values })
    }

    /// Runs several requests and returns their outputs in order, as many [`Session::run`]s would.
    /// On a GPU, consecutive requests with the same input shapes overlap: request i+1's upload
    /// and request i-1's download run while request i computes (docs/cuda.md, "Pipelined
    /// runs"); on the CPU the requests run one after another.
    pub fn run_many<S: Into<String>>(
        &self,
        requests: impl IntoIterator<Item = impl IntoIterator<Item = (S, Tensor)>>,
    ) -> Result<Vec<Outputs>> {
        let requests: Vec<Vec<(String, Tensor)>> =
            requests.into_iter().map(|r| r.into_iter().map(|(n, t)| (n.into(), t)).collect()).collect();
        let names: Vec<String> = self.model.graph.outputs.iter().map(|o| o.name.clone()).collect();
        #[cfg(feature = "cuda")]
        if let Some(c) = &self.cuda {
            return Ok(c
                .run_many(requests)?
                .into_iter()
                .map(|outs| Outputs { names: names.clone(), values: outs.into_iter().map(Value::from).collect() })
                .collect());
        }
        requests
            .into_iter()
            .map(|r| {
                let values = self.plan.run_values(r.into_iter().map(|(n, t)| (n, Value::from(t))).collect())?;
                Ok(Outputs { names: names.clone(), values })
            })
            .collect()
    }

    /// Runs the model and times every node of the optimized graph (in execution order); see
    /// [`Plan::run_profiled`]. The normal [`Session::run`] path does no timing.
    pub fn run_profiled<S: Into<String>>(
        &self,
        inputs: impl IntoIterator<Item = (S, Tensor)>,
    ) -> Result<(Outputs, Vec<StepTiming>)> {
        #[cfg(feature = "cuda")]
        if let Some(c) = &self.cuda {
            let ts: Vec<(String, Tensor)> = inputs.into_iter().map(|(n, t)| (n.into(), t)).collect();
            let (outs, timings) = c.run_profiled(ts)?;
            let names = self.model.graph.outputs.iter().map(|o| o.name.clone()).collect();
            return Ok((Outputs { names, values: outs.into_iter().map(Value::from).collect() }, timings));
        }
        let inputs: Vec<(String, Value)> = inputs.into_iter().map(|(n, t)| (n.into(), Value::from(t))).collect();
        let (values, timings) = self.plan.run_profiled(inputs)?;
        Ok((Outputs { names: self.model.graph.outputs.iter().map(|o| o.name.clone()).collect(), values }, timings))
    }
}
