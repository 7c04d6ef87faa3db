"""One-line exceptions. The CLI and the UI translate them into messages, never tracebacks."""


class SelfLengthenError(Exception):
    """Base class: the message is one line a user can act on."""


class ConfigError(SelfLengthenError):
    """A configuration value is unknown, of the wrong type, or out of range."""


class InputError(SelfLengthenError):
    """A user-supplied file or argument is malformed (the message names file/line or field)."""


class BackendError(SelfLengthenError):
    """A model backend could not be created or failed to answer."""
