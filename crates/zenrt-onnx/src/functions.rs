//! Inlining of model-local functions (`ModelProto.functions`), as emitted by some exporters
//! (e.g. the PyTorch dynamo exporter with `inline=False`): each call node is replaced by the
//! function's body with its values renamed and its attribute references resolved.

use crate::onnx_proto::{FunctionProto, NodeProto};
use std::collections::HashMap;
use zenrt_core::{Error, Result};

/// Functions by (domain, name, overload).
pub(crate) type Functions = HashMap<(String, String, String), FunctionProto>;

pub(crate) fn index(functions: &[FunctionProto]) -> Functions {
    functions
        .iter()
        .map(|f| {
            let key = (
                f.domain.clone().unwrap_or_default(),
                f.name.clone().unwrap_or_default(),
                f.overload.clone().unwrap_or_default(),
            );
            (key, f.clone())
        })
        .collect()
}

const MAX_DEPTH: usize = 32;

/// Expands every call of a local function in `nodes` (recursively).
pub(crate) fn inline(
    nodes: &[NodeProto],
    funcs: &Functions,
    counter: &mut usize,
    depth: usize,
) -> Result<Vec<NodeProto>> {
    if funcs.is_empty() {
        return Ok(nodes.to_vec());
    }
    if depth > MAX_DEPTH {
        return Err(Error::InvalidModel(format!(
            "local functions nest deeper than {MAX_DEPTH} levels (recursive function?)"
        )));
    }
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        let key = (
            n.domain.clone().unwrap_or_default(),
            n.op_type.clone().unwrap_or_default(),
            n.overload.clone().unwrap_or_default(),
        );
        let Some(f) = funcs.get(&key) else {
            out.push(n.clone());
            continue;
        };
        *counter += 1;
        let prefix = format!("{}__{}_{}/", n.name.clone().unwrap_or_default(), key.1, counter);
        // Formal → actual value names.
        let mut rename: HashMap<String, String> = HashMap::new();
        for (i, formal) in f.input.iter().enumerate() {
            rename.insert(formal.clone(), n.input.get(i).cloned().unwrap_or_default());
        }
        for (i, formal) in f.output.iter().enumerate() {
            rename.insert(formal.clone(), n.output.get(i).cloned().unwrap_or_default());
        }
        // Attribute values: the caller's, else the function's defaults.
        let mut attr_vals: HashMap<String, crate::onnx_proto::AttributeProto> = HashMap::new();
        for a in &f.attribute_proto {
            attr_vals.insert(a.name.clone().unwrap_or_default(), a.clone());
        }
        for a in &n.attribute {
            attr_vals.insert(a.name.clone().unwrap_or_default(), a.clone());
        }
        let map = |v: &String, rename: &HashMap<String, String>| -> String {
            if v.is_empty() {
                String::new()
            } else {
                rename.get(v).cloned().unwrap_or_else(|| format!("{prefix}{v}"))
            }
        };
        let mut body = Vec::with_capacity(f.node.len());
        for inner in &f.node {
            let mut m = inner.clone();
            m.input = inner.input.iter().map(|v| map(v, &rename)).collect();
            m.output = inner.output.iter().map(|v| map(v, &rename)).collect();
            m.name = Some(format!("{prefix}{}", inner.name.clone().unwrap_or_default()));
            let mut attrs = Vec::with_capacity(inner.attribute.len());
            for a in &inner.attribute {
                match &a.ref_attr_name {
                    Some(r) => {
                        if let Some(v) = attr_vals.get(r) {
                            let mut v = v.clone();
                            v.name = a.name.clone();
                            attrs.push(v);
                        }
                    }
                    None => attrs.push(a.clone()),
                }
            }
            m.attribute = attrs;
            body.push(m);
        }
        out.extend(inline(&body, funcs, counter, depth + 1)?);
    }
    Ok(out)
}
