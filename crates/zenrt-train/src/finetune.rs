//! Fine-tuning an imported ONNX model: chosen float initializers become trainable parameters
//! (graph inputs fed each step), a loss is attached to the model's first output, and the usual
//! `fit`/`evaluate`/`predict`/`to_onnx` of [`Network`] apply.

use crate::loss::Loss;
use crate::model::{builder::OPSET, Network, Param};
use crate::optim::Optimizer;
use std::collections::HashSet;
use zenrt_core::{DType, Dim, Error, Result, ValueInfo};

/// Imports an ONNX model for fine-tuning. `trainable` names the initializers to train; `None`
/// trains every float32 initializer of rank ≥ 1 read by a node (weights and biases; constants such
/// as shapes are int64 and stay fixed).
pub fn from_onnx_bytes(bytes: &[u8], trainable: Option<&[String]>) -> Result<Network> {
    let model = zenrt_onnx::load_model_bytes(bytes, &Default::default())?;
    from_model(model, trainable)
}

/// [`from_onnx_bytes`] for a file.
pub fn from_onnx_file(path: &std::path::Path, trainable: Option<&[String]>) -> Result<Network> {
    let model = zenrt_onnx::load_model(path)?;
    from_model(model, trainable).map_err(|e| e.context(path.display().to_string()))
}

fn from_model(model: zenrt_core::Model, trainable: Option<&[String]>) -> Result<Network> {
    let mut g = model.graph;
    if let Some(&v) = model.opsets.get("") {
        if !(7..=OPSET + 4).contains(&v) {
            return Err(Error::Unsupported(format!("fine-tuning a model of opset {v}")));
        }
    }
    let read: HashSet<&str> = g.nodes.iter().flat_map(|n| n.inputs.iter().map(|s| s.as_str())).collect();
    let names: Vec<String> = match trainable {
        Some(list) => {
            for n in list {
                let t = g.initializers.get(n).ok_or_else(|| {
                    Error::Invalid(format!("'{n}' is not an initializer of the model, so it cannot be trained"))
                })?;
                if t.dtype() != DType::F32 {
                    return Err(Error::Invalid(format!("initializer '{n}' is {}, only float32 trains", t.dtype())));
                }
            }
            list.to_vec()
        }
        None => {
            let mut v: Vec<String> = g
                .initializers
                .iter()
                .filter(|(n, t)| t.dtype() == DType::F32 && t.rank() >= 1 && read.contains(n.as_str()))
                .map(|(n, _)| n.clone())
                .collect();
            v.sort();
            v
        }
    };
    if names.is_empty() {
        return Err(Error::Invalid("the model has no float32 initializers to train".into()));
    }
    let mut params = Vec::with_capacity(names.len());
    for n in names {
        let t = g.initializers.remove(&n).ok_or_else(|| Error::Invalid(format!("no initializer '{n}'")))?;
        g.inputs.retain(|i| i.name != n);
        g.inputs.push(ValueInfo::new(
            n.as_str(),
            Some(DType::F32),
            Some(t.shape().iter().map(|&d| Dim::Known(d)).collect()),
        ));
        params.push(Param { name: n, value: (*t).clone(), trainable: true });
    }
    Ok(Network::from_graph(g, params))
}

/// Attaches `loss` to the model's first output and sets up training.
pub fn compile(net: &mut Network, optimizer: Box<dyn Optimizer>, loss: Loss, metrics: &[&str]) -> Result<()> {
    let graph = net.infer.clone().ok_or_else(|| Error::Invalid("the network has no graph".into()))?;
    let out = graph
        .outputs
        .first()
        .map(|o| o.name.clone())
        .ok_or_else(|| Error::Invalid("the model has no outputs".into()))?;
    let built = crate::model::Built { graph, masks: vec![], stats: vec![] };
    net.compile_with(built, &out, optimizer, loss, loss, metrics)
}
