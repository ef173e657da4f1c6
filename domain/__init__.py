"""Plain values and errors of the task system. Standard library only."""
