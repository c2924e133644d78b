"""Registries: architectures (name → nn.Module class) and runnable methods (name → loader).

A *method* is anything the engine can run on a tile: one of our networks loaded from a
``.safetensors`` file, or a classical denoiser (BM3D, NLM). Benchmarks and the CLI treat them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from restora.errors import ModelError

ARCHITECTURES: dict[str, type] = {}
METHODS: dict[str, "MethodSpec"] = {}
TASKS = ("denoise", "deblur", "derain", "dehaze", "lowlight", "auto", "stylize")  # stylize: a creative look, not a repair
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def register_arch(name: str):
    """Class decorator: make an architecture constructible by name from a model file's metadata."""

    def wrap(cls):
        ARCHITECTURES[name] = cls
        cls.arch_name = name
        return cls

    return wrap


@dataclass(frozen=True)
class MethodSpec:
    name: str
    tasks: tuple[str, ...]
    description: str
    kind: str  # "ours", "classical", "baseline"
    load: Callable[[str], object]  # device -> Method
    path: Path | None = None

    @property
    def size_bytes(self) -> int | None:
        return self.path.stat().st_size if self.path is not None else None


def register_method(spec: MethodSpec) -> None:
    METHODS[spec.name] = spec


def _ensure_loaded() -> None:
    # Importing these modules registers their architectures and methods.
    import restora.engine.classical  # noqa: F401
    import restora.models.nafnet  # noqa: F401
    import restora.models.mimounet  # noqa: F401
    import restora.models.allinone  # noqa: F401
    import restora.models.stylenet  # noqa: F401
    import restora.models.repairnet  # noqa: F401
    from restora.engine.neural import register_shipped_models

    register_shipped_models(WEIGHTS_DIR)


def available_methods(task: str | None = None) -> list[MethodSpec]:
    _ensure_loaded()
    return [m for m in METHODS.values() if task is None or task in m.tasks]


def get_spec(name_or_path: str) -> MethodSpec:
    """Spec for a registered name, or for a ``.safetensors`` path."""
    _ensure_loaded()
    if name_or_path in METHODS:
        return METHODS[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".safetensors" or path.exists():
        from restora.engine.neural import spec_from_file

        return spec_from_file(path)
    known = ", ".join(sorted(METHODS))
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
    "stylize": ("restora-style-mosaic",),
}


def default_method(task: str) -> str:
    _ensure_loaded()
    for name in DEFAULTS.get(task, ()):
        if name in METHODS:
            return name
    for spec in METHODS.values():
        if task in spec.tasks and spec.kind == "ours":
            return spec.name
    raise ModelError(f"no model is available for task '{task}'")
