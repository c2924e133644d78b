"""``restora`` in a real terminal (a pseudo-terminal): Ctrl+C mid-batch."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from pathlib import Path

import pytest

import restora

from .conftest import write_image_file

SHOW_CURSOR, HIDE_CURSOR = "\x1b[?25h", "\x1b[?25l"


def _read_until(fd: int, pattern: str, seconds: float) -> str:
    """What the terminal shows until ``pattern`` (a regex) appears, or the process ends or time is up."""
    text, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline and not re.search(pattern, text):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            text += chunk.decode("utf-8", "replace")
    return text


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_ctrl_c_mid_batch_says_how_far_it_got_restores_the_cursor_and_exits_130(tmp_path):
    for i in range(40):
        write_image_file(tmp_path / "in" / f"{i:02d}.png", seed=i, size=(96, 96))
    command = [
        sys.executable,
        "-c",
        "from restora.cli import main; main()",
        "denoise",
        "in",
        "-o",
        "out",
        "--model",
        "nlm",
        "--no-reliability",
    ]
    source = str(Path(restora.__file__).resolve().parents[1])  # the code under test, wherever the child runs
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="100", TERM="xterm", PYTHONPATH=source)
    env.pop("NO_COLOR", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI, with the pseudo-terminal as its controlling terminal
        os.chdir(tmp_path)
        # As an interactive shell does: a runner started in the background (`cmd &`) ignores SIGINT, and an
        # ignored signal stays ignored across exec.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvpe(command[0], command, env)
    try:
        shown = _read_until(fd, r"→ out/\S+", 120)  # the first file is done: the batch is under way
        assert "→" in shown, shown
        os.write(fd, b"\x03")  # Ctrl+C, as typed: the terminal sends SIGINT to the command
        shown += _read_until(fd, r"run the same command again to resume", 60)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130, shown
    found = re.search(r"interrupted: (\d+) done, (\d+) left — run the same command again to resume", shown)
    assert found, shown
    done, left = int(found[1]), int(found[2])
    assert done >= 1 and left >= 1 and done + left == 40, shown
    assert HIDE_CURSOR in shown and shown.rfind(SHOW_CURSOR) > shown.rfind(HIDE_CURSOR), repr(shown[-300:])
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(written) == done and not any(name.startswith(".") for name in written)  # no half-written file
