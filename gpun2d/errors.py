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

