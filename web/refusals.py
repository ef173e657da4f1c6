"""A refusal in people's words: the board shows the repository's refusals, which are written
for agents ("Read it again with tasks_get"), without tool and parameter names.

The message keeps what happened and why; a sentence that only tells an agent which tool to
call next is dropped, and the page itself offers what a person can do instead.
"""
from __future__ import annotations

import re

from domain.errors import TaskSystemError
from domain.secrets import scrub
from web.pages import TYPE_WORDS

# A tool's name: tasks_get, quality_check, contracts_list. (A field name such as due_date stays:
# the board's forms use the same names.)
AGENT_WORDS = re.compile(r"\b(?:tasks|contracts|quality)_[a-z_]+\b")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
CHANGED = re.compile(r"^(Task \d+ was changed(?: by .*?)?) after you read it: .*$", re.S)
REWRITES = (
    (re.compile(r"\bparent_task_id=(\d+)"), r"parent task #\1"),
    (re.compile(r"\bin_progress\b"), "in progress"),
    (re.compile(r"\bhuman_task\b"), TYPE_WORDS["human_task"]),
    (re.compile(r"\bai_task\b"), TYPE_WORDS["ai_task"]),
)
FALLBACK = "The board could not do that; nothing was changed."


def for_people(exc: TaskSystemError) -> str:
    text = scrub(str(exc))
    changed = CHANGED.match(text)
    if changed:
        return (f"{changed.group(1)} after you opened this page, so nothing was changed. "
                "The page now shows the task as it is: check it, then try again.")
    for pattern, replacement in REWRITES:
        text = pattern.sub(replacement, text)
    kept = [s for s in SENTENCE.split(text) if not AGENT_WORDS.search(s)]
    return " ".join(kept) or FALLBACK
