//! Runs an ONNX model with the Rust API.
//!
//!     cargo run -p zenrt --example run_model -- [MODEL.onnx]
//!
//! Without a model file it runs a tiny built-in model (`y = x + x`). Each input gets a
//! deterministic ramp of values of its dtype and shape (symbolic/unknown dims are 2).

use zenrt::{DType, Dim, Session, Tensor};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> zenrt::Result<()> {
    // 1. Open a model: from a file, or from bytes in memory.
    let session = match std::env::args().nth(1) {
        Some(path) => Session::from_file(&path)?,
        None => {
            println!("(no model given: using the built-in y = x + x model)");
            Session::from_bytes(&zenrt::testing::tiny_add_model())?
        }
    };

    // 2. Look at its inputs and outputs (dtype and symbolic shape).
    for i in session.inputs() {
        println!("input  {}: {}", i.name, i.type_string());
    }
    for o in session.outputs() {
        println!("output {}: {}", o.name, o.type_string());
    }

    // 3. Build one tensor per input.
    let mut inputs = Vec::new();
    for i in session.inputs() {
        let shape: Vec<usize> = i
            .shape
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|d| match d {
                Dim::Known(n) => *n,
                Dim::Sym(_) | Dim::Unknown => 2,
            })
            .collect();
        let dtype = i.dtype.unwrap_or(DType::F32);
        let n = zenrt::core::checked_numel(&shape, dtype, &i.name)?; // refuses absurd sizes
        let ramp = Tensor::from_vec(shape, (0..n).map(|k| k as f64 * 0.5).collect::<Vec<f64>>())?;
        inputs.push((i.name.clone(), ramp.cast(dtype)?));
    }

    // 4. Run (a session can run many times, from several threads) and read the outputs.
    let outputs = session.run(inputs)?;
    for (name, v) in outputs.iter() {
        let Ok(t) = v.as_tensor() else {
            println!("{name}: a {}", v.kind_name()); // a sequence or optional
            continue;
        };
        let values = t.to_f64_vec();
        let shown: Vec<String> = values.iter().take(8).map(|v| format!("{v}")).collect();
        println!(
            "{name}: {} {:?} = [{}{}]",
            t.dtype(),
            t.shape(),
            shown.join(", "),
            if values.len() > 8 { ", ..." } else { "" }
        );
    }
    // Typed access, for a float32 output: outputs.get("y").unwrap().as_slice::<f32>()?
    Ok(())
}
