"""Restora: restore degraded photographs — the noise goes, the detail stays."""

__version__ = "0.1.0"


def restore(*args, **kwargs):
    """See :func:`restora.engine.restore.restore`."""
    # Deferred: every ``restora.*`` import runs this file first; the engine (and torch) load on first use only.
    from restora.engine.restore import restore as _restore

    return _restore(*args, **kwargs)


def stylize(*args, **kwargs):
    """See :func:`restora.engine.stylize.stylize`."""
    from restora.engine.stylize import stylize as _stylize

    return _stylize(*args, **kwargs)


__all__ = ["__version__", "restore", "stylize"]
