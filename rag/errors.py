"""Errors the user can act on. Their message is Chinese and is shown as is (CLI, UI)."""


class UserFacingError(Exception):
    """Base for problems the user can fix: bad input, a server that is down, a missing file."""


class RequestError(UserFacingError, ValueError):
    """A malformed drafting request."""


class InputFileError(UserFacingError, ValueError):
    """A file the product cannot read or use."""


class LLMError(UserFacingError):
    """The language model endpoint failed (down, slow, refused, or answered garbage)."""
