"""What Restora restores: one name per task, shared by models, engine, commands and server."""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    """A task; ``AUTO`` detects the degradation of each photo (all-in-one model, and the damage detector for old
    photos); ``REPAIR`` fills the damage of an old photo (scratches, dust, blotches, creases, torn corners: a
    mask, given or found by the damage detector, then an inpainting network); ``STYLIZE`` gives a photo a
    creative look (a style network), it repairs nothing."""

    DENOISE = "denoise"
    DEBLUR = "deblur"
    DERAIN = "derain"
    DEHAZE = "dehaze"
    LOWLIGHT = "lowlight"
    AUTO = "auto"
    REPAIR = "repair"
    STYLIZE = "stylize"


# The tasks a model restores, in the all-in-one model's label order (its classifier's outputs).
RESTORE_TASKS: tuple[str, ...] = tuple(t.value for t in Task if t not in (Task.AUTO, Task.REPAIR, Task.STYLIZE))
# Every task a model may name: the restore tasks, then ``auto``, ``repair`` (old-photo damage: a mask and a fill,
# not one of the all-in-one model's labels), then ``stylize`` (a creative look, not a repair).
TASKS: tuple[str, ...] = (*RESTORE_TASKS, Task.AUTO.value, Task.REPAIR.value, Task.STYLIZE.value)
