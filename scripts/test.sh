#!/usr/bin/env bash
# The test command: installs the Python references (onnx, onnxruntime, torch...), materializes the
# official ONNX backend test data and the real-model references, then runs every Rust test.
set -euo pipefail
cd "$(dirname "$0")/.."
export ZENRT_ONNX_TESTDATA="${ZENRT_ONNX_TESTDATA:-$HOME/.cache/zenrt/onnx-testdata-1.23.2}"
export ZENRT_MODELS="${ZENRT_MODELS:-$HOME/.cache/zenrt/models}"
bash scripts/setup_python.sh
python3 scripts/gen_onnx_testdata.py "$ZENRT_ONNX_TESTDATA"
python3 scripts/export_models.py "$ZENRT_MODELS"
# scikit-learn's bundled digits -> ~/.cache/zenrt/data/digits.npz (the training test's real data).
python3 scripts/export_digits.py
# scikit-learn models exported with skl2onnx + single-op ai.onnx.ml cases, with ORT's outputs (a few seconds).
export ZENRT_SKLEARN="${ZENRT_SKLEARN:-$HOME/.cache/zenrt/sklearn}"
python3 scripts/export_sklearn.py "$ZENRT_SKLEARN"
export ZENRT_CONFORMANCE_REPORT="${ZENRT_CONFORMANCE_REPORT:-$PWD/target/conformance-report.md}"
mkdir -p target
set +e
cargo test --release --workspace "$@" 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e
# Smoke test of the zenrt-vs-ONNX-Runtime benchmark (one small model, a second or two; writes nothing).
if [ "$status" -eq 0 ]; then python3 scripts/bench_vs_ort.py --short; fi
# Architectures beyond the eight benchmark models, both PyTorch exporters, vs ORT and PyTorch (docs/zoo.md).
if [ "$status" -eq 0 ]; then
    set +e
    python3 scripts/zoo_check.py --ci 2>&1 | grep -E '^\| |^zoo:|^onnxscript' | tee target/zoo-output.log
    status=${PIPESTATUS[0]}
    set -e
    grep -q '^zoo:' target/zoo-output.log || status=1
    echo "test result: zoo. $(awk '/^zoo:/ {print $2}' target/zoo-output.log) passed; $(grep -c '| FAIL |' target/zoo-output.log) failed" | tee -a target/test-output.log
fi
# Corrupted model files (mutations of the node cases) must give clean errors: no panic, signal or hang.
if [ "$status" -eq 0 ]; then
    set +e
    python3 scripts/fuzz_models.py --iters 300 2>&1 | tee target/fuzz-output.log
    status=${PIPESTATUS[0]}
    set -e
    # One test: the whole fuzz run passes or fails.
    if [ "$status" -eq 0 ]; then r="1 passed; 0 failed"; else r="0 passed; 1 failed"; fi
    echo "test result: fuzz. $r" | tee -a target/test-output.log
fi
echo "conformance report: $ZENRT_CONFORMANCE_REPORT"
# One closing line with the totals of every test binary above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.log
exit "$status"
