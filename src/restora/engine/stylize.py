"""``restora.stylize``: repaint a photo in a learned style (fast neural style, :mod:`restora.models.stylenet`).

A style is a shipped model ``restora-style-NAME`` (``--style NAME``) or any ``.safetensors`` file of a style
network. It runs through the restoration engine (:func:`restora.engine.restore.run_restore` with the task
``stylize``): tiles with overlap, the network's instance-norm statistics measured once on the downscaled
whole image and shared by every tile, so a photo of any size is styled as one piece; ``strength`` blends the
styled photo with the input.
"""

from __future__ import annotations

from pathlib import Path

from restora.errors import ModelError
from restora.engine.catalogue import available_methods, get_spec

PREFIX = "restora-style-"


def styles() -> list[str]:
    """The shipped styles' names (``mosaic`` for ``restora-style-mosaic``)."""
    return sorted(s.name.removeprefix(PREFIX) for s in available_methods("stylize") if s.name.startswith(PREFIX))


def style_model(style: str) -> str:
    """The model that paints ``style``: a shipped style's name, a registered model name or a .safetensors path."""
    names = {s.name for s in available_methods("stylize")}
    if PREFIX + style in names:
        return PREFIX + style
    if style in names or Path(style).suffix == ".safetensors" or Path(style).exists():
        spec = get_spec(style)
        if "stylize" not in spec.tasks:
            raise ModelError(f"model '{spec.name}' is not a style (it does: {', '.join(spec.tasks)})")
        return style
    raise ModelError(
        f"unknown style '{style}' (known: {', '.join(styles()) or 'none'}; or give a style .safetensors file)"
    )


def stylize(image, style: str = "mosaic", strength: float = 1.0, tile: int | None = None, device: str = "auto"):
    """Repaint a photo in ``style``.

    ``image``: a :class:`restora.io.Image`, a path, or an array (uint8/uint16/float (H, W[, C])).
    ``style``: a shipped style (``mosaic``), a registered style model or a ``.safetensors`` path.
    ``strength``: 0–1, the share of the styled photo in a blend with the input.
    ``tile``: tile size in pixels (memory is bounded by it); 0 processes the whole image at once.
    Returns the same kind as given: an Image for an Image or path, a float32 (H, W, 3) array otherwise.
    """
    from restora.engine.restore import restore

    return restore(
        image, task="stylize", model=style_model(style), strength=strength, tile=tile, device=device, runtime="torch"
    )
