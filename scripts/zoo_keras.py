#!/usr/bin/env python3
"""Keras models (random weights) converted by tf2onnx, run by ONNX Runtime and zenrt; Keras's output as a 2nd reference.

TensorFlow is too large for CI and pins its own protobuf, so this runs in a virtual environment of its own:

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf2onnx onnxruntime
    /tmp/tfenv/bin/python scripts/zoo_keras.py [--only cnn,text] [--work DIR]

A case passes when `zenrt run --assert-outputs` matches ORT within rtol 1e-3 / atol 1e-4. Exit status: failures.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent


def models():
    import keras
    from keras import layers as L

    rng = np.random.default_rng(0)

    def img(*shape):
        return [rng.random((2, *shape), dtype=np.float32)]

    def cnn():
        i = keras.Input((28, 28, 1))
        x = L.Conv2D(16, 3, activation="relu")(i)
        x = L.BatchNormalization()(x)
        x = L.MaxPooling2D()(x)
        x = L.SeparableConv2D(32, 3, padding="same", activation="relu")(x)
        x = L.DepthwiseConv2D(3, strides=2, padding="same")(x)
        x = L.Dropout(0.3)(L.Flatten()(x))
        return keras.Model(i, L.Dense(10, activation="softmax")(x)), img(28, 28, 1)

    def text():
        i = keras.Input((20,), dtype="int32")
        x = L.Embedding(100, 32)(i)
        x = L.Bidirectional(L.LSTM(16, return_sequences=True))(x)
        x = L.GRU(16)(x)
        ids = [rng.integers(0, 100, (2, 20)).astype(np.int32)]
        return keras.Model(i, L.Dense(3, activation="softmax")(x)), ids

    def transformer():
        i = keras.Input((12, 32))
        x = L.LayerNormalization()(i + L.MultiHeadAttention(4, 8)(i, i))
        # tanh GELU: the exact one converts to Erfc, which is not an ONNX operator (tf2onnx's limit).
        f = L.Activation(lambda t: keras.activations.gelu(t, approximate=True))(L.Dense(64)(x))
        x = L.LayerNormalization()(x + L.Dense(32)(f))
        return keras.Model(i, L.Dense(5)(L.GlobalAveragePooling1D()(x))), img(12, 32)

    def conv1d():
        i = keras.Input((50, 4))
        x = L.Conv1D(8, 5, padding="causal", dilation_rate=2, activation="relu")(i)
        x = L.UpSampling1D(2)(L.AveragePooling1D(2)(x))
        return keras.Model(i, L.Activation("sigmoid")(L.Conv1D(4, 3, padding="same")(x))), img(50, 4)

    def unet():
        i = keras.Input((32, 32, 3))
        c = L.Conv2D(8, 3, padding="same", activation="relu")(i)
        b = L.Conv2D(16, 3, padding="same", activation="relu")(L.MaxPooling2D()(c))
        x = L.Concatenate()([L.Conv2DTranspose(8, 2, strides=2)(b), c])
        x = L.UpSampling2D(interpolation="bilinear")(x)
        return keras.Model(i, L.Conv2D(2, 1, activation="softmax")(x)), img(32, 32, 3)

    apps = keras.applications
    return {
        "cnn": cnn,
        "text": text,
        "transformer": transformer,
        "conv1d": conv1d,
        "unet": unet,
        "mobilenet_v2": lambda: (apps.MobileNetV2(weights=None, input_shape=(96, 96, 3)), img(96, 96, 3)),
        "resnet50": lambda: (apps.ResNet50(weights=None, input_shape=(64, 64, 3)), img(64, 64, 3)),
        "efficientnet_b0": lambda: (apps.EfficientNetB0(weights=None, input_shape=(64, 64, 3)), img(64, 64, 3)),
    }


def check(name, build, work, zenrt):
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    m, xs = build()
    keras_out = np.asarray(m(xs[0], training=False))
    spec = [tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype), name=f"in{k}") for k, x in enumerate(xs)]
    path = work / f"{name}.onnx"
    tf2onnx.convert.from_keras(m, input_signature=spec, opset=17, output_path=str(path))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(sess.get_inputs(), xs)}
    outs = sess.run(None, feeds)
    np.savez(work / f"{name}_in.npz", **feeds)
    np.savez(work / f"{name}_ort.npz", **{o.name: v for o, v in zip(sess.get_outputs(), outs)})
    r = subprocess.run([str(zenrt), "run", str(path), "--inputs", str(work / f"{name}_in.npz"), "--assert-outputs",
                        str(work / f"{name}_ort.npz"), "--rtol", "1e-3", "--atol", "1e-4"],
                       capture_output=True, text=True)
    msg = " ".join(l.strip() for l in (r.stdout + r.stderr).splitlines() if "error" in l or "differ" in l)
    ort_vs_keras = float(np.abs(outs[0] - keras_out).max())
    return r.returncode == 0, f"ORT vs Keras {ort_vs_keras:.1e}; {msg or 'matches ORT'}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only")
    ap.add_argument("--work")
    ap.add_argument("--zenrt", default=str(ROOT / "target/release/zenrt"))
    a = ap.parse_args()
    import keras

    keras.utils.set_random_seed(0)
    all_models = models()
    names = a.only.split(",") if a.only else list(all_models)
    tmp = None if a.work else tempfile.TemporaryDirectory()
    work = Path(a.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    failed = 0
    print("| Keras model | result | detail |\n|---|---|---|")
    for name in names:
        try:
            ok, detail = check(name, all_models[name], work, a.zenrt)
        except Exception as e:  # a conversion failure is tf2onnx's limit: reported, not counted
            print(f"| {name} | convert failed | {type(e).__name__}: {str(e)[:160]} |", flush=True)
            continue
        failed += not ok
        print(f"| {name} | {'pass' if ok else 'FAIL'} | {detail} |", flush=True)
    sys.exit(failed)


if __name__ == "__main__":
    main()
