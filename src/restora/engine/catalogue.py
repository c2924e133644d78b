"""The catalogue of methods the engine can run, and each task's defaults: one explicit list.

A *method* is anything the engine can run on a tile: one of our networks loaded from a ``.safetensors``
file (the shipped ones, listed from the package's weights folder), or a classical method. Benchmarks and
the CLI treat them alike.
"""

from __future__ import annotations

from pathlib import Path

from restora.engine.classical import BM3DMethod, NLMMethod
from restora.engine.deblur import BlindDeconvolution
from restora.engine.dehaze import DarkChannelPrior
from restora.engine.derain import GuidedDerain, MedianDerain
from restora.engine.impulse import ImpulseMethod, SwitchingMedianMethod
from restora.engine.lowlight import CLAHEMethod, GammaMethod, RetinexMethod
from restora.engine.methods import IdentityMethod, MethodSpec
from restora.engine.neural import spec_from_file
from restora.engine.periodic import NotchMethod
from restora.errors import ModelError
from restora.models.registry import WEIGHTS_DIR

CLASSICAL = (
    MethodSpec(
        "bm3d",
        ("denoise",),
        "CBM3D (classical, slow, strong on Gaussian noise)",
        "classical",
        lambda device: BM3DMethod(),
    ),
    MethodSpec(
        "nlm", ("denoise",), "OpenCV non-local means (classical, fast)", "classical", lambda device: NLMMethod()
    ),
    MethodSpec(
        "identity", ("denoise",), "no-op baseline (returns the input)", "baseline", lambda device: IdentityMethod()
    ),
    MethodSpec(
        "switching-median",
        ("denoise",),
        "adaptive switching median (salt-and-pepper specks)",
        "classical",
        lambda device: SwitchingMedianMethod(),
    ),
    MethodSpec(
        "impulse",
        ("denoise",),
        "switching median, then the denoiser (salt-and-pepper specks)",
        "classical",
        lambda device: ImpulseMethod(device),
    ),
    MethodSpec(
        "notch",
        ("denoise",),
        "spectral notch filter (periodic patterns: scanner, moiré)",
        "classical",
        lambda device: NotchMethod(),
    ),
    MethodSpec(
        "deconv-blind",
        ("deblur",),
        "parametric blind deconvolution: GCV blur identification + Wiener (classical)",
        "classical",
        lambda device: BlindDeconvolution(),
    ),
    MethodSpec(
        "dcp",
        ("dehaze",),
        "dark channel prior dehazing, He et al. (classical)",
        "classical",
        lambda device: DarkChannelPrior(),
    ),
    MethodSpec(
        "median", ("derain",), "median filter rain removal (classical)", "classical", lambda device: MedianDerain()
    ),
    MethodSpec(
        "guided",
        ("derain",),
        "guided filter with a median guide, rain removal (classical)",
        "classical",
        lambda device: GuidedDerain(),
    ),
    MethodSpec(
        "clahe", ("lowlight",), "CLAHE on CIELAB lightness (classical)", "classical", lambda device: CLAHEMethod()
    ),
    MethodSpec(
        "gamma",
        ("lowlight",),
        "adaptive gamma: mean brought to mid-grey (classical)",
        "classical",
        lambda device: GammaMethod(),
    ),
    MethodSpec(
        "retinex",
        ("lowlight",),
        "multi-scale Retinex, colour preserved (classical)",
        "classical",
        lambda device: RetinexMethod(),
    ),
)

METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in CLASSICAL}


def register_method(spec: MethodSpec) -> None:
    """Add a method at run time (a benchmark peer, a model file registered by a test)."""
    METHODS[spec.name] = spec


def register_shipped_models(folder: Path) -> None:
    """Add every ``.safetensors`` in ``folder`` under its file stem, unless that name is taken (reads only metadata)."""
    for path in sorted(Path(folder).glob("*.safetensors")):
        if path.stem not in METHODS:
            register_method(spec_from_file(path))


def all_methods() -> dict[str, MethodSpec]:
    """Every method by name: the classical ones, the shipped networks and those added at run time."""
    register_shipped_models(WEIGHTS_DIR)
    return METHODS


def available_methods(task: str | None = None) -> list[MethodSpec]:
    return [m for m in all_methods().values() if task is None or task in m.tasks]


def get_spec(name_or_path: str) -> MethodSpec:
    """Spec for a catalogued name, or for a ``.safetensors`` path."""
    methods = all_methods()
    if name_or_path in methods:
        return methods[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".safetensors" or path.exists():
        return spec_from_file(path)
    known = ", ".join(sorted(methods))
    raise ModelError(f"unknown model '{name_or_path}' (known: {known}; or give a .safetensors path)")


def load_method(name_or_path: str, device: str = "cpu"):
    return get_spec(name_or_path).load(device)


# Preference order of defaults per task: the task's own shipped model, then the all-in-one model, then the
# classical fallback (the best classical method of the task's benchmark). ``auto`` needs the all-in-one model.
DEFAULTS = {
    "denoise": ("restora-denoise", "restora-allinone", "nlm"),
    "deblur": ("restora-deblur", "restora-allinone", "deconv-blind"),
    "derain": ("restora-derain", "restora-allinone", "median"),
    "dehaze": ("restora-dehaze", "restora-allinone", "dcp"),
    "lowlight": ("restora-lowlight", "restora-allinone", "gamma"),
    "auto": ("restora-allinone",),
    "repair": ("restora-inpaint",),  # the fill; the damage detector (restora-damage) finds the mask
    "stylize": ("restora-style-mosaic",),
}


def default_method(task: str) -> str:
    methods = all_methods()
    for name in DEFAULTS.get(task, ()):
        if name in methods:
            return name
    for spec in methods.values():
        if task in spec.tasks and spec.kind == "ours":
            return spec.name
    raise ModelError(f"no model is available for task '{task}'")
