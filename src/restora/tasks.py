"""What Restora restores: one name per task, shared by models, engine, commands and server."""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    """A restoration task; ``AUTO`` detects the degradation of each photo (all-in-one model)."""

    DENOISE = "denoise"
    DEBLUR = "deblur"
    DERAIN = "derain"
    DEHAZE = "dehaze"
    LOWLIGHT = "lowlight"
    AUTO = "auto"


# The tasks a model restores, in the all-in-one model's label order (its classifier's outputs).
RESTORE_TASKS: tuple[str, ...] = tuple(t.value for t in Task if t is not Task.AUTO)
# Every task a command accepts: the restore tasks, then ``auto``.
TASKS: tuple[str, ...] = (*RESTORE_TASKS, Task.AUTO.value)
