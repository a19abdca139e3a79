#!/usr/bin/env python3
"""Materialize the official ONNX backend test data (onnx 1.23.2) on disk.

Usage:
    python3 scripts/gen_onnx_testdata.py [OUTDIR] [--force] [--verify]

Default OUTDIR: ~/.cache/zenrt/onnx-testdata-1.23.2

Layout produced (the standard ONNX backend-test layout):

    OUTDIR/<set>/test_xxx/model.onnx
    OUTDIR/<set>/test_xxx/test_data_set_N/input_K.pb    (TensorProto / SequenceProto / OptionalProto)
    OUTDIR/<set>/test_xxx/test_data_set_N/output_K.pb
    OUTDIR/manifest.json     per-case info (set, name, rtol, atol, #inputs, #outputs, source)
    OUTDIR/.complete         stamp (JSON with counts); its presence makes re-runs a no-op

Where each set comes from:

  node/               generated in-process from onnx's own test-case definitions
                      (onnx.backend.test.case.node, i.e. what onnx's BackendTest runs);
                      neither the wheel nor the sdist ships node data any more.
                      np.random is seeded (0) so the output is reproducible.
  simple/             copied from the onnx-1.23.2 sdist (onnx/backend/test/data/simple)
  pytorch-converted/  copied from the sdist
  pytorch-operator/   copied from the sdist
  light/              converted from the sdist's flat files light_<m>.onnx +
                      light_<m>_output_0.pb into test_<m>/ case dirs. The input is not
                      shipped: like onnx's runner we write input_0.pb as
                      arange(n).reshape(shape)/n (float32) for the single non-initializer
                      graph input. Weights in these models are ConstantOfShape(0.02)
                      placeholders (see the sdist's light/README.md).

The sdist is downloaded once into ~/.cache/zenrt/dl/ (sha256 checked against PyPI).
If PyPI is unreachable, the same data dirs are taken from the installed onnx wheel,
which ships identical copies of simple/pytorch-*/light (verified for 1.23.2).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

ONNX_VERSION = "1.23.2"
CACHE = Path(os.path.expanduser("~/.cache/zenrt"))
DL_DIR = CACHE / "dl"
DEFAULT_OUT = CACHE / f"onnx-testdata-{ONNX_VERSION}"
SDIST_NAME = f"onnx-{ONNX_VERSION}.tar.gz"
SDIST_SHA256 = "008cb0467b2bbee41448acc7da8b6f4e704624cb0d327a2d5adafc7ce19bc5b8"
SETS = ["node", "simple", "pytorch-converted", "pytorch-operator", "light"]
COPY_SETS = ["simple", "pytorch-converted", "pytorch-operator"]
STAMP = ".complete"
STAMP_FORMAT = 1


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- sdist


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sdist_url() -> tuple[str, str]:
    """Ask PyPI's simple index (PEP 691 JSON) for the sdist URL + sha256."""
    req = urllib.request.Request(
        "https://pypi.org/simple/onnx/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        index = json.load(r)
    for f in index["files"]:
        if f["filename"] == SDIST_NAME:
            return f["url"], f["hashes"]["sha256"]
    raise RuntimeError(f"{SDIST_NAME} not found on PyPI simple index")


def fetch_sdist() -> Path | None:
    """Return the path of the cached sdist, downloading it if needed (None on failure).

    Note: `pip download onnx==1.23.2 --no-binary :all:` is NOT used because pip then
    builds the sdist's build dependencies (it compiles cmake from source: very slow).
    """
    DL_DIR.mkdir(parents=True, exist_ok=True)
    path = DL_DIR / SDIST_NAME
    if path.exists() and _sha256(path) == SDIST_SHA256:
        return path
    try:
        url, sha = _sdist_url()
        if sha != SDIST_SHA256:
            raise RuntimeError(f"PyPI sha256 {sha} != pinned {SDIST_SHA256}")
        log(f"downloading {url}")
        tmp = path.with_suffix(".part")
        with urllib.request.urlopen(url, timeout=300) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        if _sha256(tmp) != SDIST_SHA256:
            raise RuntimeError("sha256 mismatch after download")
        tmp.replace(path)
        return path
    except Exception as e:  # noqa: BLE001
        log(f"WARNING: could not fetch sdist ({e}); falling back to installed onnx wheel data")
        return None


def source_data_dir() -> tuple[Path, str]:
    """Directory holding onnx/backend/test/data/{simple,pytorch-*,light}."""
    sdist = fetch_sdist()
    if sdist is not None:
        root = DL_DIR / f"onnx-{ONNX_VERSION}"
        data = root / "onnx" / "backend" / "test" / "data"
        if not (data / "light").is_dir():
            prefix = f"onnx-{ONNX_VERSION}/onnx/backend/test/data/"
            log(f"extracting {prefix} from {sdist.name}")
            with tarfile.open(sdist) as tf:
                members = [m for m in tf.getmembers() if m.name.startswith(prefix)]
                kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tf.extractall(DL_DIR, members=members, **kw)
        return data, f"sdist {SDIST_NAME}"
    import onnx

    data = Path(onnx.__file__).parent / "backend" / "test" / "data"
    return data, f"installed onnx wheel ({data})"


# --------------------------------------------------------------------------- writing


def _write_value(path: Path, value, vi) -> None:
    """Serialize one input/output exactly like onnx.backend.test.cmd_tools does."""
    from onnx import TensorProto, numpy_helper

    t = vi.type
    if t.HasField("map_type"):
        proto = numpy_helper.from_dict(value, vi.name)
    elif t.HasField("sequence_type"):
        proto = numpy_helper.from_list(value, vi.name)
    elif t.HasField("optional_type"):
        proto = numpy_helper.from_optional(value, vi.name)
    else:
        assert t.HasField("tensor_type"), vi
        if isinstance(value, TensorProto):
            proto = TensorProto()
            proto.CopyFrom(value)
            proto.name = vi.name
        else:
            proto = numpy_helper.from_array(value, vi.name)
    path.write_bytes(proto.SerializeToString())


def gen_node(dst: Path) -> list[dict]:
    import numpy as np

    np.random.seed(0)  # many case definitions use unseeded np.random
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case import node as node_cases

        cases = node_cases.collect_testcases()
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "duplicate node case names"
    info = []
    for case in cases:
        cdir = dst / case.name
        cdir.mkdir(parents=True)
        (cdir / "model.onnx").write_bytes(case.model.SerializeToString())
        g = case.model.graph
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ddir = cdir / f"test_data_set_{i}"
            ddir.mkdir()
            for j, v in enumerate(inputs):
                _write_value(ddir / f"input_{j}.pb", v, g.input[j])
            for j, v in enumerate(outputs):
                _write_value(ddir / f"output_{j}.pb", v, g.output[j])
        info.append(
            dict(set="node", name=case.name, rtol=case.rtol, atol=case.atol,
                 n_inputs=len(case.data_sets[0][0]), n_outputs=len(case.data_sets[0][1]),
                 source="generated: onnx.backend.test.case.node")
        )
    return info


def copy_set(src: Path, dst: Path, set_name: str, source: str) -> list[dict]:
    info = []
    for cdir in sorted(p for p in src.iterdir() if p.is_dir()):
        shutil.copytree(cdir, dst / cdir.name)
        ds = dst / cdir.name / "test_data_set_0"
        info.append(
            dict(set=set_name, name=cdir.name, rtol=1e-3, atol=1e-7,
                 n_inputs=len(list(ds.glob("input_*.pb"))),
                 n_outputs=len(list(ds.glob("output_*.pb"))), source=source)
        )
    return info


# rtol/atol from onnx.backend.test.case.model.collect_testcases (the "real" models)
LIGHT_TOL = {"densenet121": 2e-3}


def convert_light(src: Path, dst: Path, source: str) -> list[dict]:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    info = []
    for model_path in sorted(src.glob("light_*.onnx")):
        name = model_path.stem[len("light_"):]
        model = onnx.load(str(model_path))
        inits = {i.name for i in model.graph.initializer}
        real_inputs = [i for i in model.graph.input if i.name not in inits]
        cdir = dst / f"test_{name}"
        ddir = cdir / "test_data_set_0"
        ddir.mkdir(parents=True)
        shutil.copy(model_path, cdir / "model.onnx")
        # Same dummy input as onnx.backend.test.runner.Runner.generate_dummy_data(random=False)
        for k, vi in enumerate(real_inputs):
            shape = tuple(d.dim_value if d.HasField("dim_value") else 1
                          for d in vi.type.tensor_type.shape.dim)
            n = int(np.prod(shape))
            x = (np.arange(n).reshape(shape) / n).astype(np.float32)
            (ddir / f"input_{k}.pb").write_bytes(numpy_helper.from_array(x, vi.name).SerializeToString())
        n_out = 0
        for k, vo in enumerate(model.graph.output):
            f = src / f"light_{name}_output_{k}.pb"
            if not f.exists():
                raise RuntimeError(f"missing expected output {f}")
            t = onnx.TensorProto()
            t.ParseFromString(f.read_bytes())
            t.name = vo.name  # shipped protos have an empty name
            (ddir / f"output_{k}.pb").write_bytes(t.SerializeToString())
            n_out += 1
        info.append(
            dict(set="light", name=f"test_{name}", rtol=LIGHT_TOL.get(name, 1e-3), atol=1e-7,
                 n_inputs=len(real_inputs), n_outputs=n_out,
                 source=f"{source}: light/light_{name}.onnx (+ generated arange input)")
        )
    return info


# --------------------------------------------------------------------------- verify


def _load_pb(path: Path, vi):
    import onnx
    from onnx import numpy_helper

    t = vi.type
    if t.HasField("sequence_type"):
        p = onnx.SequenceProto()
        p.ParseFromString(path.read_bytes())
        return numpy_helper.to_list(p)
    if t.HasField("optional_type"):
        p = onnx.OptionalProto()
        p.ParseFromString(path.read_bytes())
        return numpy_helper.to_optional(p)
    if t.HasField("map_type"):
        p = onnx.MapProto()
        p.ParseFromString(path.read_bytes())
        return numpy_helper.to_dict(p)
    p = onnx.TensorProto()
    p.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(p)


def _close(a, b, rtol, atol) -> bool:
    import numpy as np

    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(_close(x, y, rtol, atol) for x, y in zip(a, b))
    if b is None:
        return a is None
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if b.dtype.kind in "fc":
        return bool(np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True))
    if b.dtype.kind in "OUS":
        return a.tolist() == b.tolist()
    return bool(np.array_equal(a, b))


def verify(out: Path, manifest: list[dict]) -> dict:
    """Run every case through ONNX Runtime (CPU). Informational only."""
    import onnx
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    res: dict[str, dict[str, int]] = {}
    failures: dict[str, list[str]] = {}
    for m in manifest:
        r = res.setdefault(m["set"], {"pass": 0, "mismatch": 0, "error": 0})
        cdir = out / m["set"] / m["name"]
        try:
            model = onnx.load(str(cdir / "model.onnx"))
            inits = {i.name for i in model.graph.initializer}
            ins = [i for i in model.graph.input if i.name not in inits]
            so = ort.SessionOptions()
            so.log_severity_level = 3
            sess = ort.InferenceSession(str(cdir / "model.onnx"), so, providers=["CPUExecutionProvider"])
            ok = True
            for ds in sorted(cdir.glob("test_data_set_*")):
                feeds = {ins[k].name: _load_pb(ds / f"input_{k}.pb", ins[k])
                         for k in range(len(list(ds.glob("input_*.pb"))))}
                got = sess.run(None, feeds)
                for k, vo in enumerate(model.graph.output):
                    exp = _load_pb(ds / f"output_{k}.pb", vo)
                    ok &= _close(got[k], exp, m["rtol"], m["atol"])
            r["pass" if ok else "mismatch"] += 1
            if not ok:
                failures.setdefault(m["set"], []).append(m["name"] + " (mismatch)")
        except Exception as e:  # noqa: BLE001
            r["error"] += 1
            failures.setdefault(m["set"], []).append(f"{m['name']} ({type(e).__name__})")
    (out / "ort_verify.json").write_text(json.dumps({"summary": res, "failures": failures}, indent=1))
    return res


# --------------------------------------------------------------------------- main


def count_cases(out: Path) -> dict[str, int]:
    return {s: sum(1 for p in (out / s).iterdir() if (p / "model.onnx").is_file())
            for s in SETS if (out / s).is_dir()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("outdir", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--force", action="store_true", help="regenerate even if OUTDIR is complete")
    ap.add_argument("--verify", action="store_true",
                    help="also run every case through onnxruntime and write OUTDIR/ort_verify.json")
    args = ap.parse_args()
    out = Path(os.path.expanduser(args.outdir)).resolve()

    import onnx

    if onnx.__version__ != ONNX_VERSION:
        log(f"ERROR: installed onnx is {onnx.__version__}, need {ONNX_VERSION} "
            "(node cases are generated from the installed package); run scripts/setup_python.sh")
        return 1

    stamp = out / STAMP
    if stamp.exists() and not args.force:
        st = json.loads(stamp.read_text())
        if st.get("format") == STAMP_FORMAT and st.get("onnx") == ONNX_VERSION and count_cases(out) == st["counts"]:
            log(f"{out} already complete (stamp {stamp}); use --force to regenerate")
            if args.verify and not (out / "ort_verify.json").exists():
                log(f"ort verify: {verify(out, json.loads((out / 'manifest.json').read_text()))}")
            _print_counts(st["counts"], out)
            return 0

    t0 = time.time()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / (out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()

    data, source = source_data_dir()
    manifest: list[dict] = []
    log("generating node cases from onnx.backend.test.case.node ...")
    manifest += gen_node(tmp / "node")
    for s in COPY_SETS:
        log(f"copying {s} from {source} ...")
        (tmp / s).mkdir()
        manifest += copy_set(data / s, tmp / s, s, source)
    log(f"converting light models from {source} ...")
    (tmp / "light").mkdir()
    manifest += convert_light(data / "light", tmp / "light", source)

    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    counts = count_cases(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    (out / STAMP).write_text(json.dumps(
        {"format": STAMP_FORMAT, "onnx": ONNX_VERSION, "source": source, "counts": counts,
         "created": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1))
    log(f"done in {time.time() - t0:.1f}s")
    if args.verify:
        log(f"ort verify: {verify(out, manifest)}")
    _print_counts(counts, out)
    return 0


def _print_counts(counts: dict[str, int], out: Path) -> None:
    log(f"ONNX backend test data (onnx {ONNX_VERSION}) in {out}:")
    for s in SETS:
        log(f"  {s:18s} {counts.get(s, 0):5d} cases")
    log(f"  {'total':18s} {sum(counts.values()):5d} cases")


if __name__ == "__main__":
    sys.exit(main())
