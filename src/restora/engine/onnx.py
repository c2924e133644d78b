"""ONNX Runtime path for our networks: export with dynamic height and width, a check against PyTorch,
and :class:`OnnxMethod`, an engine method run by onnxruntime's CPU provider (tiling unchanged).

We ship only ``.safetensors`` files; an ONNX graph is made from one on demand (``restora export --onnx``,
or ``--runtime onnx|auto``, cached under ``~/.cache/restora/onnx/`` by the weights file's SHA-256).

Export uses the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): ``torch.export``
cannot trace the networks' size-dependent padding with symbolic height and width, while the tracer records
the pad amounts as shape arithmetic, so one graph serves every size. It is traced on an odd-sized example so
the padding branch is in the graph (with zero pads it is the identity).

The graph carries the model file's metadata in ``metadata_props`` (``restora.arch``, ``restora.config``,
``restora.card``, as in the ``.safetensors`` file) plus ``restora.engine``: what the tiled engine needs to run
it (``uses_sigma``, ``size_multiple``, and the halo as ``context``). Inputs: ``image`` (N, 3, H, W) in [0, 1] and, for
models with a noise-level input, ``sigma`` (N, 3, H, W), the σ map on the [0, 1] scale (σ/255).

``runtime="auto"`` picks ONNX Runtime only on the CPU, only when onnxruntime is installed, and only for a
model whose architecture and config were measured faster by at least :data:`MIN_GAIN` at every size at the
process's thread count (or the nearest measured one) **on this machine**: the measurements are this
machine's own, kept in its cache (:data:`SPEED_FILE`, ``~/.cache/restora/onnx_speed.json`` or under
``RESTORA_CACHE``; written by ``benchmarks/onnx_speed.py --record``), since which runtime is faster depends on
the CPU and its core count. Without a measurement, PyTorch. So the choice can differ between 1 and 2 threads.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from restora.engine.methods import Method, TileContext
from restora.engine.neural import sigma_map
from restora.errors import ModelError
from restora.settings import get_settings
from restora.models.descriptor import ModelDescriptor
from restora.models.device import resolve_device
from restora.models.export import export_form
from restora.models.modelfile import load_module, read_metadata

RUNTIMES = ("auto", "torch", "onnx")
OPSET = 17  # onnxruntime's CPU provider implements every op used here at this opset
EXPORT_VERSION = 2  # part of the cache key: bump when the exported graph changes
TOLERANCE = 1e-4  # max |ONNX − PyTorch| accepted on the check inputs
CHECK_SIZES = ((37, 53), (61, 29))  # odd sizes: exercise the padding to the size multiple
TRACE_SIZE = (37, 45)
MIN_GAIN = 1.1  # `auto` takes ONNX Runtime only when it was measured at least this much faster
SPEED_FILE = get_settings().cache_dir / "onnx_speed.json"  # this machine's measurements (see above)
CACHE_DIR = get_settings().cache_dir / "onnx"
INSTALL_HINT = "pip install 'restora[onnx]'"


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(f"the ONNX runtime needs onnxruntime: {INSTALL_HINT}") from None
    return onnxruntime


# ---------------------------------------------------------------------------------------------------
# Export


def engine_facts(module: torch.nn.Module) -> dict:
    """What the tiled engine needs to know about a network, as stored in the graph (see ModelDescriptor)."""
    d = ModelDescriptor.of(module)
    # "context" is the graph format's key for the halo (exported graphs in users' caches carry it).
    return {"uses_sigma": d.takes_sigma, "size_multiple": d.size_multiple, "context": d.halo, "channels": d.channels}


def export_onnx(module: torch.nn.Module, meta: dict) -> bytes:
    """The ONNX graph of ``module`` (eval mode, CPU, float32) with dynamic H and W, as bytes.

    ``meta``: the model file's ``{"arch", "config", "card"}`` (see :func:`restora.models.modelfile.read_metadata`),
    stored in the graph's ``metadata_props``.
    """
    try:
        import onnx
    except ImportError:
        raise ModelError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from None
    module = module.to("cpu", torch.float32).eval()
    facts = engine_facts(module)
    h, w = TRACE_SIZE
    example = [torch.rand(1, facts["channels"], h, w)]
    names = ["image"]
    if facts["uses_sigma"]:
        example.append(torch.full((1, facts["channels"], h, w), 25 / 255))
        names.append("sigma")
    axes = {n: {2: "height", 3: "width"} for n in [*names, "restored"]}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about the legacy exporter
        torch.onnx.export(
            export_form(module),
            tuple(example),
            buffer,  # type: ignore[arg-type]  # the legacy exporter writes to a file object too (typed: paths)
            dynamo=False,
            opset_version=OPSET,
            input_names=names,
            output_names=["restored"],
            dynamic_axes=axes,
            do_constant_folding=True,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    props = {
        "restora.arch": meta["arch"],
        "restora.config": json.dumps(meta["config"], sort_keys=True),
        "restora.card": json.dumps(meta.get("card", {}), sort_keys=True),
        "restora.engine": json.dumps(facts, sort_keys=True),
    }
    onnx.helper.set_model_props(graph, props)
    graph.producer_name = "restora"
    return graph.SerializeToString()


def check_onnx(module: torch.nn.Module, graph: bytes, sizes=CHECK_SIZES, seed: int = 0) -> float:
    """Max |ONNX Runtime − PyTorch| over random inputs of ``sizes``; raises ModelError above TOLERANCE."""
    session = _session(graph, threads=1)
    facts = engine_facts(module)
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for h, w in sizes:
        x = torch.rand(1, facts["channels"], h, w, generator=generator)
        feeds = {"image": x.numpy()}
        inputs = [x]
        if facts["uses_sigma"]:
            s = torch.rand(1, facts["channels"], h, w, generator=generator) * (50 / 255)
            feeds["sigma"] = s.numpy()
            inputs.append(s)
        with torch.no_grad():
            expected = module.to("cpu", torch.float32).eval()(*inputs).numpy()
        got = session.run(["restored"], feeds)[0]
        if got.shape != expected.shape:
            raise ModelError(f"ONNX output is {got.shape} for a {h}×{w} input, PyTorch's is {expected.shape}")
        worst = max(worst, float(np.max(np.abs(got - expected))))
    if not worst < TOLERANCE:
        raise ModelError(f"ONNX export differs from PyTorch by {worst:.2e} (> {TOLERANCE:g})")
    return worst


def export_model_file(path: Path) -> tuple[bytes, float]:
    """ONNX graph of a ``.safetensors`` model file, checked against PyTorch; returns (graph, max diff)."""
    module, meta = load_module(Path(path))
    graph = export_onnx(module, meta)
    return graph, check_onnx(module, graph)


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def cached_onnx(path: Path, cache_dir: Path | None = None) -> bytes:
    """The checked ONNX graph of a model file, from the cache when it was made before.

    Keyed by the weights file's SHA-256, the export version, the opset and the torch version, so a changed
    file or exporter never reuses a stale graph. An unwritable cache only costs the export next time.
    """
    folder = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    key = f"{_file_sha256(Path(path))}-v{EXPORT_VERSION}-opset{OPSET}-torch{torch.__version__.split('+')[0]}"
    cached = folder / f"{key}.onnx"
    if cached.is_file():
        return cached.read_bytes()
    graph, _ = export_model_file(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_bytes(graph)
        os.replace(tmp, cached)  # atomic: parallel workers may race to fill the same entry
    except OSError:
        pass
    return graph


# ---------------------------------------------------------------------------------------------------
# Running


def _session(graph: bytes | str | Path, threads: int | None = None):
    ort = _require_onnxruntime()
    options = ort.SessionOptions()
    # Same thread count as PyTorch in this process (torch.set_num_threads / OMP_NUM_THREADS / --threads).
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    source = str(graph) if isinstance(graph, (str, Path)) else graph
    try:
        return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ModelError(
            f"not a valid ONNX model ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})"
        ) from None


class OnnxMethod(Method):
    """Runs an exported network with onnxruntime's CPU provider; same tiles, σ map and results as NeuralMethod."""

    runtime = "onnx"
    default_tile = 512
    supports_self_ensemble = True

    def __init__(self, graph: bytes | str | Path, name: str, threads: int | None = None):
        self.session = _session(graph, threads)
        props = self.session.get_modelmeta().custom_metadata_map
        if "restora.engine" not in props:
            raise ModelError("ONNX model has no 'restora.engine' metadata (export it with restora export --onnx)")
        facts = json.loads(props["restora.engine"])
        self.name = name
        self.card = json.loads(props.get("restora.card", "{}"))
        self.uses_sigma = bool(facts["uses_sigma"])
        self.size_multiple = int(facts["size_multiple"])
        self.halo = int(facts["context"])
        self.threads = self.session.get_session_options().intra_op_num_threads

    def process(self, tile: np.ndarray, sigma: np.ndarray | None, context: TileContext | None = None) -> np.ndarray:
        feeds = {"image": np.ascontiguousarray(tile.transpose(2, 0, 1)[None], dtype=np.float32)}
        if self.uses_sigma:
            feeds["sigma"] = np.ascontiguousarray(sigma_map(sigma, tile.shape).transpose(2, 0, 1)[None])
        return self.session.run(["restored"], feeds)[0][0].transpose(1, 2, 0)


# ---------------------------------------------------------------------------------------------------
# Choosing the runtime


def measured_speedup(
    arch: str, config: dict, speed_file: Path | None = None, threads: int | None = None
) -> float | None:
    """The smallest ONNX-over-PyTorch throughput ratio measured for this architecture and config, if any.

    With ``threads``, only the rows measured at that thread count count, or, where it was not measured, at
    the nearest measured one (the smaller on a tie): the faster runtime can differ between thread counts.
    """
    try:
        records = json.loads(Path(speed_file or SPEED_FILE).read_text())
    except (OSError, ValueError):
        return None
    for model in records.get("models", []):
        rows = model.get("measurements") or []
        if model.get("arch") != arch or model.get("config") != config or not rows:
            continue
        if threads is not None:
            nearest = min({int(m["threads"]) for m in rows}, key=lambda t: (abs(t - threads), t))
            rows = [m for m in rows if int(m["threads"]) == nearest]
        return min(m["onnx_mp_s"] / m["torch_mp_s"] for m in rows)
    return None


def pick_runtime(spec, device: str, runtime: str) -> str:
    """``"torch"`` or ``"onnx"`` for a method spec. Raises ModelError when ``runtime="onnx"`` cannot be honoured."""
    if runtime not in RUNTIMES:
        raise ModelError(f"unknown runtime '{runtime}' (one of {', '.join(RUNTIMES)})")
    if runtime == "torch":
        return "torch"
    if spec.path is None:  # classical methods and baselines run as they are
        if runtime == "onnx":
            raise ModelError(f"'{spec.name}' is not a network: --runtime onnx applies to neural models only")
        return "torch"
    if runtime == "onnx":
        if device != "auto" and resolve_device(device).type != "cpu":
            raise ModelError("--runtime onnx runs on the CPU: use --device cpu (or auto)")
        _require_onnxruntime()
        return "onnx"
    if resolve_device(device).type != "cpu" or not onnxruntime_available():
        return "torch"
    meta = read_metadata(spec.path)
    # Both runtimes use as many threads as PyTorch has in this process (see _session).
    gain = measured_speedup(meta["arch"], meta["config"], threads=torch.get_num_threads())
    return "onnx" if gain is not None and gain >= MIN_GAIN else "torch"


def load_onnx_method(spec) -> OnnxMethod:
    return OnnxMethod(cached_onnx(spec.path), spec.name)
