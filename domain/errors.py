"""The errors of the task system, written for the model that reads them.

Every message names the input, what was wrong and what to do next. Each class carries a
stable ``code`` (what kind of refusal, for programs) and ``retryable`` (whether the very
same call may succeed later). The tool layer turns any ``TaskSystemError`` into an MCP
error result whose text is ``[code] message``; anything else is a bug, logged with its
traceback, and reaches the caller as ``[internal]``.

    TaskSystemError                              code               retryable
    ├── InvalidInput          bad or unknown argument      invalid_argument   no
    ├── NotFound              an id names no row           not_found          no
    ├── WorkflowError         the workflow forbids it      conflict           no
    ├── Conflict              another writer got there     conflict           per instance (a held task: yes)
    ├── Forbidden             read-only, outside roots     forbidden          no
    ├── StorageError          database unusable now        unavailable        yes
    │   └── OutcomeUnknown    write may or may not have    unavailable        no (check first: tasks_get)
    │                         landed
    ├── QualityError          a contract or path unusable  invalid_argument   no
    ├── ExecutionError        Ollama failed or is absent   unavailable        yes
    └── LimitExceeded         a bound tripped (time, size) invalid_argument   no
"""
import reprlib


class TaskSystemError(Exception):
    """Base of every anticipated failure; ``str(err)`` is the message for the caller."""

    code = "internal"
    retryable = False

    def __init__(self, message: str = "", *, retryable: bool | None = None):
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class InvalidInput(TaskSystemError):
    code = "invalid_argument"


class NotFound(TaskSystemError):
    code = "not_found"


class WorkflowError(TaskSystemError):
    code = "conflict"


class Conflict(TaskSystemError):
    code = "conflict"


class Forbidden(TaskSystemError):
    code = "forbidden"


class StorageError(TaskSystemError):
    code = "unavailable"
    retryable = True


class OutcomeUnknown(StorageError):
    retryable = False


class QualityError(TaskSystemError):
    code = "invalid_argument"


class ExecutionError(TaskSystemError):
    code = "unavailable"
    retryable = True


class LimitExceeded(TaskSystemError):
    """A bound on time or size tripped: the input is too big or too costly as given."""

    code = "invalid_argument"


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict, _SHORT.maxset = 2, 4, 4, 4, 4
_SHORT.maxstring, _SHORT.maxother = 80, 40


def shorten(value: object, limit: int = 80) -> str:
    """The repr of a caller's value, cut so one bad argument cannot flood a message.

    Bounded before it is built: a 10 MB string or a list of a million items costs what
    its first few items cost, not a whole repr that is then thrown away."""
    if isinstance(value, (str, bytes)):
        text = repr(value[:limit])  # a prefix's repr is the repr's prefix: the same message, cut
    else:
        text = _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
