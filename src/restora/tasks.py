"""What Restora restores: one name per task, shared by models, engine, commands and server."""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    """A task; ``AUTO`` detects the degradation of each photo (all-in-one model); ``STYLIZE`` gives a photo a
    creative look (a style network), it repairs nothing."""

    DENOISE = "denoise"
    DEBLUR = "deblur"
    DERAIN = "derain"
    DEHAZE = "dehaze"
    LOWLIGHT = "lowlight"
    AUTO = "auto"
    STYLIZE = "stylize"


# The tasks a model restores, in the all-in-one model's label order (its classifier's outputs).
RESTORE_TASKS: tuple[str, ...] = tuple(t.value for t in Task if t not in (Task.AUTO, Task.STYLIZE))
# Every task a model may name: the restore tasks, then ``auto``, then ``stylize`` (a creative look, not a repair).
TASKS: tuple[str, ...] = (*RESTORE_TASKS, Task.AUTO.value, Task.STYLIZE.value)
