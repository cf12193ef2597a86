"""Typed errors raised by gpun2d; the CLI turns each into a one-line message."""


class GPUN2DError(Exception):
    """Base class of every error gpun2d raises on purpose."""


class DataError(GPUN2DError, ValueError):
    """Input data is missing, malformed, corrupt or inconsistent."""


class DeviceError(GPUN2DError, RuntimeError):
    """The requested compute device (or a library it needs) is unavailable."""


class ConfigError(GPUN2DError, ValueError):
    """A parameter value is out of range or inconsistent with the data."""


class DataTypeError(DataError, TypeError):
    """Input data holds values that are not numbers (strings, objects)."""


def listed(names, head: int = 6, tail: int = 3) -> str:
    """Names for a message: all of a few, else the first and last ones around the count left out."""
    names = [str(name) for name in names]
    if len(names) <= head + tail + 1:
        return ", ".join(names)
    return f"{', '.join(names[:head])}, … ({len(names) - head - tail} more), {', '.join(names[-tail:])}"
