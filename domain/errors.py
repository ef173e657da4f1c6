"""The errors of the task system, written for the model that reads them.

Every message names the input, what was wrong and what to do next. The tool layer
turns any ``TaskSystemError`` into an MCP ``ToolError`` with the message unchanged;
anything else is a bug and is logged with its traceback.

    TaskSystemError
    ├── InvalidInput          an argument is malformed or out of range
    ├── NotFound              an id names no row
    ├── WorkflowError         the workflow forbids the change (final status, open children, ...)
    ├── Conflict              another writer got there first (lost race, stale expected_updated_at)
    ├── StorageError          the database cannot be used right now
    │   └── OutcomeUnknown    a write may or may not have landed (connection lost mid-commit)
    ├── QualityError          a quality contract or path cannot be used
    └── ExecutionError        the model runner (Ollama) failed
"""


class TaskSystemError(Exception):
    """Base of every anticipated failure; ``str(err)`` is the message for the caller."""


class InvalidInput(TaskSystemError):
    pass


class NotFound(TaskSystemError):
    pass


class WorkflowError(TaskSystemError):
    pass


class Conflict(TaskSystemError):
    pass


class StorageError(TaskSystemError):
    pass


class OutcomeUnknown(StorageError):
    pass


class QualityError(TaskSystemError):
    pass


class ExecutionError(TaskSystemError):
    pass


def shorten(value: object, limit: int = 80) -> str:
    """The repr of a caller's value, cut so one bad argument cannot flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
