"""The one exception type for mistakes a user can fix: the CLI prints its message, never a traceback."""


class PcclipError(Exception):
    """A user-facing error: bad input, a missing file, an invalid setting. The message says what to do."""
