//! `zenrt train CONFIG.toml`: a model, its data and its training described in a small TOML file.
//!
//! ```toml
//! seed = 0                                   # weights, shuffling, dropout
//! input_shape = [1, 8, 8]                    # optional: taken from the data (batch excluded)
//! init_weights = "init.safetensors"          # optional: start from these parameters
//!
//! [data]
//! path = "~/.cache/zenrt/data/digits.npz"   # .npz (arrays `x`, `y`), .npy (+ `y_path`), or .csv
//! validation_split = 0.2                     # last 20% of the rows held out
//!
//! [[layers]]
//! type = "conv2d"
//! filters = 32
//! kernel_size = 3
//! activation = "relu"
//! # ... max_pooling2d, average_pooling2d, flatten, dense, dropout, batch_normalization,
//! #     embedding, lstm, gru, activation
//!
//! [optimizer]
//! type = "adam"                              # sgd, adam, adamw, rmsprop
//! lr = 0.001
//!
//! [training]
//! loss = "sparse_categorical_crossentropy"
//! metrics = ["accuracy"]
//! epochs = 15
//! batch_size = 32
//!
//! [output]                                   # optional; defaults: <config name>.onnx/.safetensors/.png
//! onnx = "digits_cnn.onnx"
//! ```
//!
//! Relative paths are resolved against the current directory; `~/` is the home directory.

use crate::data::{expand_home, read_array, read_csv};
use crate::layers::Layer;
use crate::loss::Loss;
use crate::model::{FitOptions, History, Sequential};
use crate::optim::{Adam, AdamW, LrSchedule, Optimizer, RmsProp, Sgd};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use zenrt_core::{DType, Error, Result, Tensor};

/// The whole config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub input_shape: Option<Vec<usize>>,
    #[serde(default)]
    pub init_weights: Option<String>,
    pub data: DataConfig,
    pub layers: Vec<Layer>,
    pub optimizer: OptimizerConfig,
    pub training: TrainingConfig,
    #[serde(default)]
    pub output: OutputConfig,
}

/// Where the data comes from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `.npz` (arrays `x_key`/`y_key`), `.npy` (features; labels in `y_path`), or `.csv`.
    pub path: String,
    #[serde(default)]
    pub y_path: Option<String>,
    #[serde(default = "default_x")]
    pub x_key: String,
    #[serde(default = "default_y")]
    pub y_key: String,
    /// CSV: the label column (negative counts from the end).
    #[serde(default = "default_label_column")]
    pub label_column: i64,
    #[serde(default)]
    pub validation_split: f32,
    /// Separate validation data (same format as `path`); overrides `validation_split`.
    #[serde(default)]
    pub validation_path: Option<String>,
    /// An int64 `[epochs, n_train]` .npy: the training-row order of every epoch (replaces shuffling).
    #[serde(default)]
    pub order: Option<String>,
}

fn default_x() -> String {
    "x".into()
}
fn default_y() -> String {
    "y".into()
}
fn default_label_column() -> i64 {
    -1
}

/// The optimizer and its hyper-parameters (Keras' defaults when left out).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    Sgd {
        #[serde(default = "lr_sgd")]
        lr: f32,
        #[serde(default)]
        momentum: f32,
        #[serde(default)]
        nesterov: bool,
        #[serde(default)]
        weight_decay: f32,
    },
    Adam {
        #[serde(default = "lr_adam")]
        lr: f32,
        #[serde(default = "beta1")]
        beta_1: f32,
        #[serde(default = "beta2")]
        beta_2: f32,
        #[serde(default = "eps")]
        epsilon: f32,
    },
    Adamw {
        #[serde(default = "lr_adam")]
        lr: f32,
        #[serde(default = "beta1")]
        beta_1: f32,
        #[serde(default = "beta2")]
        beta_2: f32,
        #[serde(default = "eps")]
        epsilon: f32,
        #[serde(default = "wd_adamw")]
        weight_decay: f32,
    },
    Rmsprop {
        #[serde(default = "lr_adam")]
        lr: f32,
        #[serde(default = "rho")]
        rho: f32,
        #[serde(default)]
        momentum: f32,
        #[serde(default = "eps")]
        epsilon: f32,
    },
}

fn lr_sgd() -> f32 {
    0.01
}
fn lr_adam() -> f32 {
    1e-3
}
fn beta1() -> f32 {
    0.9
}
fn beta2() -> f32 {
    0.999
}
fn eps() -> f32 {
    1e-7
}
fn wd_adamw() -> f32 {
    0.004
}
fn rho() -> f32 {
    0.9
}

impl OptimizerConfig {
    /// The configured optimizer.
    pub fn build(&self) -> Box<dyn Optimizer> {
        match *self {
            OptimizerConfig::Sgd { lr, momentum, nesterov, weight_decay } => {
                Box::new(Sgd::new(lr, momentum, nesterov, weight_decay))
            }
            OptimizerConfig::Adam { lr, beta_1, beta_2, epsilon } => Box::new(Adam::new(lr, beta_1, beta_2, epsilon)),
            OptimizerConfig::Adamw { lr, beta_1, beta_2, epsilon, weight_decay } => {
                Box::new(AdamW::new(lr, beta_1, beta_2, epsilon, weight_decay))
            }
            OptimizerConfig::Rmsprop { lr, rho, momentum, epsilon } => {
                Box::new(RmsProp::new(lr, rho, momentum, epsilon))
            }
        }
    }
}

/// Loss, metrics and the loop.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// `sparse_categorical_crossentropy`, `categorical_crossentropy`, `binary_crossentropy`,
    /// `mean_squared_error` (or `mse`).
    pub loss: String,
    #[serde(default)]
    pub from_logits: bool,
    #[serde(default)]
    pub metrics: Vec<String>,
    pub epochs: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_true")]
    pub shuffle: bool,
    /// Learning-rate decay per epoch: `step` (with `lr_step_size`, `lr_gamma`) or `cosine`.
    #[serde(default)]
    pub lr_schedule: Option<String>,
    #[serde(default = "default_step")]
    pub lr_step_size: usize,
    #[serde(default = "default_gamma")]
    pub lr_gamma: f32,
}

fn default_batch() -> usize {
    32
}
fn default_true() -> bool {
    true
}
fn default_step() -> usize {
    10
}
fn default_gamma() -> f32 {
    0.1
}

impl TrainingConfig {
    /// The loss named in the config.
    pub fn loss(&self) -> Result<Loss> {
        let from_logits = self.from_logits;
        Ok(match self.loss.as_str() {
            "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossentropy { from_logits },
            "categorical_crossentropy" => Loss::CategoricalCrossentropy { from_logits },
            "binary_crossentropy" => Loss::BinaryCrossentropy { from_logits },
            "mean_squared_error" | "mse" => Loss::MeanSquaredError,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown loss '{other}' (known: sparse_categorical_crossentropy, categorical_crossentropy, \
                     binary_crossentropy, mean_squared_error)"
                )))
            }
        })
    }

    fn schedule(&self) -> Result<LrSchedule> {
        Ok(match self.lr_schedule.as_deref() {
            None | Some("constant") => LrSchedule::Constant,
            Some("step") => LrSchedule::Step { step_size: self.lr_step_size, gamma: self.lr_gamma },
            Some("cosine") => LrSchedule::Cosine { total: self.epochs, min_lr: 0.0 },
            Some(o) => return Err(Error::Invalid(format!("unknown lr_schedule '{o}' (constant, step, cosine)"))),
        })
    }
}

/// Output files (defaults: `<config name>.onnx`, `.safetensors`, `.png` in the current directory).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub onnx: Option<String>,
    pub weights: Option<String>,
    pub plot: Option<String>,
}

/// Where the outputs went and how training ended.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub history: History,
    pub epochs: usize,
    /// Wall time of loading, training and writing.
    pub seconds: f64,
    /// Mean time of one training step (forward + backward + update), in milliseconds.
    pub step_ms: f64,
    pub onnx: PathBuf,
    pub weights: PathBuf,
    pub plot: PathBuf,
    pub train_samples: usize,
    pub val_samples: usize,
}

impl TrainReport {
    /// One-line JSON: `val_accuracy`, `val_loss`, `loss`, `accuracy`, `epochs`, `seconds`,
    /// `step_ms`, `onnx`, `weights`, `plot`.
    pub fn to_json(&self) -> String {
        let num = |v: Option<f64>| v.filter(|x| x.is_finite()).map_or("null".to_string(), |x| format!("{x}"));
        let s = |p: &Path| json_str(&p.display().to_string());
        format!(
            "{{\"val_accuracy\":{},\"val_loss\":{},\"loss\":{},\"accuracy\":{},\"epochs\":{},\"seconds\":{},\
             \"step_ms\":{},\"train_samples\":{},\"val_samples\":{},\"onnx\":{},\"weights\":{},\"plot\":{}}}",
            num(self.history.last("val_accuracy")),
            num(self.history.last("val_loss")),
            num(self.history.last("loss")),
            num(self.history.last("accuracy")),
            self.epochs,
            num(Some(self.seconds)),
            num(Some(self.step_ms)),
            self.train_samples,
            self.val_samples,
            s(&self.onnx),
            s(&self.weights),
            s(&self.plot)
        )
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o += "\\\"",
            '\\' => o += "\\\\",
            c if (c as u32) < 0x20 => o += &format!("\\u{:04x}", c as u32),
            c => o.push(c),
        }
    }
    o + "\""
}

/// Parses a config file.
pub fn load_config(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    toml::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// Options of [`train_from_config`] beyond the file.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Draw progress bars.
    pub verbose: bool,
    /// Folder for outputs with default names (current directory when unset).
    pub out_dir: Option<PathBuf>,
    /// Overrides the configured epoch count.
    pub epochs: Option<usize>,
}

/// Loads features and labels as configured.
fn load_xy(data: &DataConfig, path: &str, y_path: Option<&str>) -> Result<(Tensor, Tensor)> {
    let p = expand_home(path);
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "csv" => read_csv(&p, data.label_column),
        "npz" => Ok((read_array(&p, Some(&data.x_key))?, read_array(&p, Some(&data.y_key))?)),
        _ => {
            let yp = y_path.ok_or_else(|| {
                Error::Invalid(format!("{}: a .npy feature file needs `y_path` for the labels", p.display()))
            })?;
            Ok((read_array(&p, None)?, read_array(&expand_home(yp), None)?))
        }
    }
}

/// Brings `x` to float32 (int64 for an Embedding input) and `[n] + input_shape`.
fn shape_x(x: Tensor, input_shape: &[usize], dtype: DType) -> Result<Tensor> {
    let n = x.shape().first().copied().ok_or_else(|| Error::Invalid("the features have no rows".into()))?;
    let x = if x.dtype() != dtype { x.cast(dtype)? } else { x };
    let mut shape = vec![n];
    shape.extend_from_slice(input_shape);
    if x.shape() == shape.as_slice() {
        return Ok(x);
    }
    let per: usize = input_shape.iter().product();
    if x.len() != n * per {
        return Err(Error::Shape(format!(
            "the features have shape {:?}, which does not hold rows of the model's input shape {input_shape:?}",
            x.shape()
        )));
    }
    x.reshape(shape)
}

/// Trains the model a config describes and writes the ONNX model, the weights and the curves.
/// When training stops on an error, the last good weights are still written and the error says where.
pub fn train_from_config(path: &Path, opts: &RunOptions) -> Result<TrainReport> {
    let t0 = Instant::now();
    let cfg = load_config(path)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model").to_string();
    let out_dir = opts.out_dir.clone().unwrap_or_default();
    let out = |given: &Option<String>, ext: &str| match given {
        Some(p) => expand_home(p),
        None => out_dir.join(format!("{stem}.{ext}")),
    };
    let (onnx, weights, plot) =
        (out(&cfg.output.onnx, "onnx"), out(&cfg.output.weights, "safetensors"), out(&cfg.output.plot, "png"));

    let (x, y) = load_xy(&cfg.data, &cfg.data.path, cfg.data.y_path.as_deref())?;
    let input_shape = match &cfg.input_shape {
        Some(s) => s.clone(),
        None => x.shape().get(1..).map(|s| s.to_vec()).unwrap_or_default(),
    };
    let mut model = Sequential::with_seed(&input_shape, cfg.seed);
    for (i, l) in cfg.layers.iter().enumerate() {
        model.add(l.clone()).map_err(|e| e.context(format!("{}: [[layers]] #{}", path.display(), i + 1)))?;
    }
    if let Some(w) = &cfg.init_weights {
        model.load_weights(expand_home(w))?;
    }
    let x = shape_x(x, &input_shape, model.input_dtype())?;
    let loss = cfg.training.loss()?;
    let metrics: Vec<&str> = cfg.training.metrics.iter().map(|s| s.as_str()).collect();
    model.compile_boxed(cfg.optimizer.build(), loss, &metrics)?;

    let validation_data = match &cfg.data.validation_path {
        Some(vp) => {
            let (vx, vy) = load_xy(&cfg.data, vp, None)?;
            Some((shape_x(vx, &input_shape, model.input_dtype())?, vy))
        }
        None => None,
    };
    let epochs = opts.epochs.unwrap_or(cfg.training.epochs);
    let order = match &cfg.data.order {
        Some(p) => {
            let t = read_array(&expand_home(p), None)?;
            if t.rank() != 2 {
                return Err(Error::Invalid(format!("order file {p}: expected [epochs, n_train], got {:?}", t.shape())));
            }
            let w = t.shape()[1];
            let v = t.to_i64_vec();
            if v.iter().any(|&i| i < 0) {
                return Err(Error::Invalid(format!("order file {p}: negative row index")));
            }
            Some(v.chunks(w.max(1)).map(|c| c.iter().map(|&i| i as usize).collect()).collect())
        }
        None => None,
    };
    let n = x.shape()[0];
    let fit = FitOptions {
        epochs,
        batch_size: cfg.training.batch_size,
        validation_split: cfg.data.validation_split,
        validation_data,
        shuffle: cfg.training.shuffle,
        seed: cfg.seed,
        verbose: opts.verbose,
        order,
        schedule: cfg.training.schedule()?,
    };
    let val_samples = match &fit.validation_data {
        Some((vx, _)) => vx.shape()[0],
        None if fit.validation_split > 0.0 => n - crate::model::train_rows(n, fit.validation_split),
        None => 0,
    };
    let result = model.fit(&x, &y, &fit);
    let save = |model: &mut Sequential| -> Result<()> {
        model.export_onnx(&onnx)?;
        model.save_weights(&weights)
    };
    let history = match result {
        Ok(h) => h,
        Err(e) => {
            return Err(match save(&mut model) {
                Ok(()) => e.context(format!(
                    "training stopped; the last good weights were saved to {} and {}",
                    onnx.display(),
                    weights.display()
                )),
                Err(e2) => e.context(format!("training stopped, and saving the last good weights failed too: {e2}")),
            });
        }
    };
    save(&mut model)?;
    let metric = cfg.training.metrics.first().map(|m| if m == "acc" { "accuracy" } else { m.as_str() });
    crate::plot::plot_history(&history, metric.unwrap_or("accuracy"), &plot, 960, 400)?;
    let steps: usize = history.epochs.iter().map(|e| e.steps).sum();
    let step_secs: f64 = history.epochs.iter().map(|e| e.step_seconds).sum();
    Ok(TrainReport {
        epochs: history.epochs.len(),
        history,
        seconds: t0.elapsed().as_secs_f64(),
        step_ms: 1e3 * step_secs / steps.max(1) as f64,
        onnx,
        weights,
        plot,
        train_samples: n - if cfg.data.validation_path.is_some() { 0 } else { val_samples },
        val_samples,
    })
}
