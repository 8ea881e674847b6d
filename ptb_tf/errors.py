"""The one exception type for mistakes a user can fix."""

import re


class UserError(Exception):
    """A problem the user caused and can fix: a bad flag, file or corpus.

    Command-line tools print its message as one line and exit with
    `exit_code` instead of showing a traceback. Its message says what is wrong
    and what to do.
    """

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(UserError):
    """A bad flag or hyper-parameter value (exit code 2, absl's convention)."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=2)


def reason(error: BaseException) -> str:
    """The first line of what an exception says (a TensorFlow error's
    message, an OSError's strerror), for one-line messages."""
    text = (getattr(error, "message", None) or getattr(error, "strerror", None)
            or str(error) or type(error).__name__)
    # An op's error starts with the function it ran in, which means nothing
    # to a user: "{{function_node __wrapped__CreateSummaryFileWriter...}} ".
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(text))
    line = (text.splitlines() or [type(error).__name__])[0]
    # TensorFlow's file errors read "PATH; CAUSE [Op:NAME]": the path is
    # often a temporary file the user never named, and the op theirs neither.
    line = re.sub(r"\s*\[Op:\w+\]$", "", line)
    return re.sub(r"^/[^;]*; ", "", line)
