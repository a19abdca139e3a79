"""Builds the bundled example model `examples/models/tiny_cnn.onnx` (a small Keras-style CNN
with random weights, built with onnx.helper and numpy only), an input file and the outputs
ONNX Runtime computes for it. Run: python3 scripts/make_example_model.py"""
import os
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

rng = np.random.default_rng(0)
out_dir = os.path.join(os.path.dirname(__file__), "..", "examples", "models")
os.makedirs(out_dir, exist_ok=True)

def w(name, *shape, scale=0.1):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

inits = [
    w("conv1.w", 8, 1, 3, 3), w("conv1.b", 8),
    w("conv2.w", 16, 8, 3, 3), w("conv2.b", 16),
    w("fc.w", 16 * 7 * 7, 32), w("fc.b", 32),
    w("out.w", 32, 10), w("out.b", 10),
    numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "flat_shape"),
]
nodes = [
    helper.make_node("Conv", ["image", "conv1.w", "conv1.b"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
    helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
    helper.make_node("Conv", ["p1", "conv2.w", "conv2.b"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], name="pool2"),
    helper.make_node("Reshape", ["p2", "flat_shape"], ["flat"], name="flatten"),
    helper.make_node("MatMul", ["flat", "fc.w"], ["fc_mm"], name="fc"),
    helper.make_node("Add", ["fc_mm", "fc.b"], ["fc_out"], name="fc_bias"),
    helper.make_node("Relu", ["fc_out"], ["h"], name="relu3"),
    helper.make_node("Gemm", ["h", "out.w", "out.b"], ["logits"], name="out"),
    helper.make_node("Softmax", ["logits"], ["probs"], axis=-1, name="softmax"),
]
graph = helper.make_graph(
    nodes, "tiny_cnn",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10])],
    inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="zenrt-example")
model.ir_version = 8
onnx.checker.check_model(model)
path = os.path.join(out_dir, "tiny_cnn.onnx")
onnx.save(model, path)

x = rng.random((2, 1, 28, 28), dtype=np.float32)
np.savez(os.path.join(out_dir, "tiny_cnn_inputs.npz"), image=x)
try:
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (probs,) = sess.run(None, {"image": x})
    np.savez(os.path.join(out_dir, "tiny_cnn_expected.npz"), probs=probs)
    print("wrote", path, "and ORT reference outputs")
except ImportError:
    print("wrote", path, "(onnxruntime missing: no reference outputs)")
