"""Restoring many files, on one engine or another.

- :mod:`restora.batch.options`: the options of a restore, on the command line (declared once for every
  restore command and ``restora batch``) and as each file's plain values;
- :mod:`restora.batch.jobs`: planning (input expansion, output mapping, skipping), restoring one file and
  reporting; the local engine;
- :mod:`restora.batch.ray_engine`: the Ray engine (a Ray Data pipeline over the planned jobs) and its manifest;
- :mod:`restora.batch.cli`: the ``restora batch`` command.
"""
