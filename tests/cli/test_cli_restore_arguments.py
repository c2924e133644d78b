"""The restore commands and ``restora batch`` take their shared options from one declaration (RestoreArguments)."""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest

from restora.batch.options import RestoreArguments, takes_restore_arguments
from restora.cli import _register_commands, app

_register_commands()
SHARED = [f.name for f in fields(RestoreArguments)]


@pytest.mark.parametrize("command", ["denoise", "deblur", "restore", "enhance", "batch"])
def test_every_restore_command_takes_every_shared_option(command):
    (info,) = [c for c in app.registered_commands if c.name == command]
    params = list(inspect.signature(info.callback).parameters)
    assert params[:2] == ["inputs", "output"] and set(SHARED) <= set(params)


def test_the_command_gets_one_value_and_its_own_parameters_where_declared():
    got = {}

    def command(first: int = 1, arguments: RestoreArguments = None, last: str = "x") -> None:
        got.update(arguments=arguments, first=first, last=last)

    wrapped = takes_restore_arguments(command)
    params = list(inspect.signature(wrapped).parameters)
    assert params[:3] == ["inputs", "output", "first"] and params[-1] == "last"
    assert params[3:-1] == SHARED[2:]
    defaults = {name: inspect.signature(wrapped).parameters[name].default for name in SHARED[2:]}
    wrapped(inputs=["a.png"], output="out", first=2, last="y", **defaults)
    assert got["arguments"] == RestoreArguments(["a.png"], "out") and (got["first"], got["last"]) == (2, "y")
