"""What an audit finds: a :class:`Finding` has a fixed code, the file at fault, its partner, a value and a message."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Every code the audit can report, in the order the report lists them.
CODES = (
    "unreadable",  # the file cannot be read as an image
    "residual-noise",  # the reference is noisy
    "blurred",  # low sharpness for its content, relative to its set
    "jpeg-blocking",  # 8×8 block artefacts
    "clipped",  # large saturated areas
    "exposure-offset",  # pair: gain between noisy and clean
    "colour-cast",  # pair: colour balance differs between noisy and clean
    "misaligned",  # pair: sub-pixel shift
    "mismatched-pair",  # pair: the two files show different scenes
    "duplicate",  # the same picture twice in one folder
    "leak",  # the same picture in two folders (also cropped, scaled or re-encoded)
)


@dataclass(frozen=True)
class Finding:
    """One problem: ``path`` is the file at fault, ``other`` its partner (pair, duplicate or leak) or None."""

    code: str
    path: str
    other: str | None
    value: float | None
    message: str

    def __post_init__(self):
        if self.code not in CODES:
            raise ValueError(f"unknown audit code {self.code!r}")

    def as_json(self) -> dict:
        d = asdict(self)
        if d["value"] is not None:
            d["value"] = round(float(d["value"]), 4)
        return d
