"""User-facing errors: each carries one line that the CLI and API show as is."""


class RestoraError(Exception):
    """An error whose message is fit to show to a user on one line (no traceback)."""


class BadInputError(RestoraError):
    """The input file cannot be read as an image (missing, empty, truncated, unsupported, too large)."""


class OutputError(RestoraError):
    """The output cannot be written (not writable, would overwrite an input, escapes its folder)."""


class ModelError(RestoraError):
    """A model name or file is unknown or invalid."""
