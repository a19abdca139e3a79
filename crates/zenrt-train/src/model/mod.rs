//! The Keras-like model API: a [`Sequential`] stack of [`crate::layers`], compiled with an
//! optimizer, a loss and metrics, then `fit`, `evaluate`, `predict`, weights to/from safetensors and
//! export to ONNX.
//!
//! A model is a forward [`Graph`] of ordinary ONNX ops whose parameters are graph *inputs*. Two
//! variants are written from the layer stack: the training graph (dropout masks as inputs, batch
//! normalization with batch statistics) and the inference graph (no dropout, moving statistics),
//! used by predict, evaluate and export.

pub mod builder;
mod fit;
mod network;
mod weights;

pub use fit::{train_rows, EpochLog, FitOptions, History, Metric, TARGET};
pub use network::{Built, Network, Param};

use crate::layers::{Activation, EmitCx, Layer, Mode};
use crate::loss::Loss;
use crate::optim::Optimizer;
use builder::GraphBuilder;
use zenrt_core::{DType, Dim, Error, Result, Tensor};

/// The name of a model's input and output values in its graphs (and exported ONNX file).
pub const INPUT: &str = "input";
/// See [`INPUT`].
pub const OUTPUT: &str = "output";

/// A linear stack of layers. Each layer is checked against the previous one's output shape when it
/// is added, and its parameters are created (seeded) right away.
pub struct Sequential {
    input_shape: Vec<usize>,
    layers: Vec<(String, Layer, Vec<usize>)>,
    net: Network,
    rng: crate::rng::Rng,
}

impl Sequential {
    /// A model for inputs of `input_shape` (batch excluded: `[1, 8, 8]` for 8×8 one-channel images),
    /// parameters initialized from seed 0.
    pub fn new(input_shape: &[usize]) -> Sequential {
        Sequential::with_seed(input_shape, 0)
    }

    /// Like [`Sequential::new`] with parameters initialized from `seed`.
    pub fn with_seed(input_shape: &[usize], seed: u64) -> Sequential {
        Sequential {
            input_shape: input_shape.to_vec(),
            layers: vec![],
            net: Network::default(),
            rng: crate::rng::Rng::new(seed),
        }
    }

    /// Appends a layer; fails (and leaves the model unchanged) when it does not fit the previous
    /// layer's output.
    pub fn add(&mut self, layer: impl Into<Layer>) -> Result<&mut Sequential> {
        let layer = layer.into();
        let imp = layer.imp();
        let input = self.output_shape().to_vec();
        let n = self.layers.len();
        let kind = imp.kind();
        let same = self.layers.iter().filter(|(_, l, _)| l.imp().kind() == kind).count();
        let name = if same == 0 { kind.to_string() } else { format!("{kind}_{same}") };
        let ctx = |e: Error| e.context(format!("layer #{n} '{name}'"));
        if imp.wants_indices() && n != 0 {
            return Err(ctx(Error::Invalid("an Embedding layer must come first (it reads integer indices)".into())));
        }
        let out = imp.output_shape(&input).map_err(ctx)?;
        for p in imp.params(&input) {
            let value = crate::model::network::init_param(&p, &mut self.rng).map_err(ctx)?;
            self.net.params.push(Param { name: format!("{name}.{}", p.suffix), value, trainable: p.trainable });
        }
        self.layers.push((name, layer, out));
        self.net.invalidate();
        Ok(self)
    }

    /// Output shape of the last layer (batch excluded).
    pub fn output_shape(&self) -> &[usize] {
        self.layers.last().map(|l| l.2.as_slice()).unwrap_or(&self.input_shape)
    }

    /// Input shape (batch excluded).
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The layers with their names and output shapes.
    pub fn layers(&self) -> impl Iterator<Item = (&str, &Layer, &[usize])> {
        self.layers.iter().map(|(n, l, s)| (n.as_str(), l, s.as_slice()))
    }

    /// dtype of the model input: int64 indices for an Embedding first layer, float32 otherwise.
    pub fn input_dtype(&self) -> DType {
        match self.layers.first() {
            Some((_, l, _)) if l.imp().wants_indices() => DType::I64,
            _ => DType::F32,
        }
    }

    /// A Keras-style summary: layer, output shape, parameter count.
    pub fn summary(&self) -> String {
        let mut s = format!("{:<24}{:<20}{:>10}\n", "layer", "output shape", "params");
        let mut total = 0;
        for (name, _, shape) in &self.layers {
            let n: usize = self
                .net
                .params
                .iter()
                .filter(|p| p.name.split_once('.').map(|x| x.0) == Some(name))
                .map(|p| p.value.len())
                .sum();
            total += n;
            s += &format!("{name:<24}{:<20}{n:>10}\n", format!("{shape:?}"));
        }
        s += &format!("total parameters: {total}\n");
        s
    }

    /// The network behind the model (parameters, optimizer state, compiled step).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Mutable access to the network (fit, compile, weights).
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.net
    }

    /// Writes the model's graph in `mode` (parameters are graph inputs named `{layer}.{param}`).
    /// With `logits`, the last layer's softmax/sigmoid is left out.
    pub fn build_graph(&self, mode: Mode, logits: bool) -> Result<network::Built> {
        if self.layers.is_empty() {
            return Err(Error::Invalid("the model has no layers".into()));
        }
        let mut b = GraphBuilder::new("sequential");
        let batch = || Dim::Sym("batch".into());
        let dims = |s: &[usize]| std::iter::once(batch()).chain(s.iter().map(|&d| Dim::Known(d))).collect::<Vec<_>>();
        b.input(INPUT, self.input_dtype(), dims(&self.input_shape));
        let mut x = INPUT.to_string();
        let mut masks = vec![];
        let mut stats = vec![];
        let mut input = self.input_shape.clone();
        let last = self.layers.len() - 1;
        for (i, (name, layer, out)) in self.layers.iter().enumerate() {
            let mut cx = EmitCx {
                b: &mut b,
                mode,
                prefix: name.clone(),
                skip_activation: logits && i == last,
                masks: vec![],
                bn_stats: vec![],
            };
            x = layer.imp().emit(&mut cx, &x, &input).map_err(|e| e.context(format!("layer '{name}'")))?;
            masks.extend(cx.masks);
            stats.extend(cx.bn_stats);
            input = out.clone();
        }
        b.node("Identity", &[&x], &[OUTPUT], vec![])?;
        b.output(OUTPUT, DType::F32, dims(&input));
        for m in &masks {
            b.input(&m.name, DType::F32, dims(&m.shape));
        }
        let used: std::collections::HashSet<String> =
            b.graph.nodes.iter().flat_map(|n| n.inputs.iter().cloned()).collect();
        for p in self.net.params.iter().filter(|p| used.contains(&p.name)) {
            b.input(&p.name, DType::F32, p.value.shape().iter().map(|&d| Dim::Known(d)).collect());
        }
        Ok(network::Built { graph: b.graph, masks, stats })
    }

    /// The model's output for `x` (`[n] + input_shape`), in batches of `batch_size`.
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        self.ensure_infer()?;
        self.net.predict(x, batch_size)
    }

    /// The trained model as ONNX bytes (opset 17, parameters as initializers, symbolic batch dim).
    pub fn to_onnx(&mut self) -> Result<Vec<u8>> {
        self.ensure_infer()?;
        self.net.to_onnx()
    }

    /// Writes the trained model as an ONNX file; zenrt and ONNX Runtime both run it.
    pub fn export_onnx(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let bytes = self.to_onnx()?;
        let path = path.as_ref();
        std::fs::write(path, bytes).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })
    }

    /// Saves every parameter (moving statistics included) to a safetensors file.
    pub fn save_weights(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.net.save_weights(path.as_ref())
    }

    /// Loads parameters saved by [`Sequential::save_weights`] (or written by another tool with the
    /// same names and shapes); every name and shape is checked before anything changes.
    pub fn load_weights(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.net.load_weights(path.as_ref())
    }

    /// Sets up training with `optimizer`, `loss` and `metrics` (`"accuracy"`, `"mae"`, `"mse"`).
    /// A final softmax (or sigmoid) followed by a cross-entropy on probabilities is trained as the
    /// same cross-entropy on logits, which is numerically stable; predictions are unchanged.
    pub fn compile(&mut self, optimizer: impl Optimizer + 'static, loss: Loss, metrics: &[&str]) -> Result<()> {
        self.compile_boxed(Box::new(optimizer), loss, metrics)
    }

    /// [`Sequential::compile`] with a boxed optimizer.
    pub fn compile_boxed(&mut self, optimizer: Box<dyn Optimizer>, loss: Loss, metrics: &[&str]) -> Result<()> {
        self.ensure_infer()?;
        let last = self.layers.last().and_then(|l| l.1.imp().activation());
        let fused = match (loss, last) {
            (Loss::SparseCategoricalCrossentropy { from_logits: false }, Some(Activation::Softmax)) => {
                Some(Loss::SparseCategoricalCrossentropy { from_logits: true })
            }
            (Loss::CategoricalCrossentropy { from_logits: false }, Some(Activation::Softmax)) => {
                Some(Loss::CategoricalCrossentropy { from_logits: true })
            }
            (Loss::BinaryCrossentropy { from_logits: false }, Some(Activation::Sigmoid)) => {
                Some(Loss::BinaryCrossentropy { from_logits: true })
            }
            _ => None,
        };
        let train = self.build_graph(Mode::Train, fused.is_some())?;
        self.net.compile_with(train, OUTPUT, optimizer, loss, fused.unwrap_or(loss), metrics)
    }

    /// Trains on `x` (`[n] + input_shape`) and `y` (labels or targets per row); see [`FitOptions`].
    pub fn fit(&mut self, x: &Tensor, y: &Tensor, opts: &FitOptions) -> Result<History> {
        self.net.fit(x, y, opts)
    }

    /// Mean loss and metrics on `x`/`y` with the inference graph: `[("loss", ..), ("accuracy", ..)]`.
    pub fn evaluate(&mut self, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<Vec<(String, f64)>> {
        self.ensure_infer()?;
        self.net.evaluate(x, y, batch_size)
    }

    fn ensure_infer(&mut self) -> Result<()> {
        if self.net.infer.is_none() {
            let built = self.build_graph(Mode::Infer, false)?;
            self.net.infer = Some(built.graph);
        }
        Ok(())
    }
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sequential(input {:?})\n{}", self.input_shape, self.summary())
    }
}
