"""The board: tasks in the browser for the people on the team (web/app.py builds it).

Tools-layer code: it reads and writes through infrastructure's TaskRepository, with the same
validators and history as the MCP tools, and writes no SQL of its own.
"""
