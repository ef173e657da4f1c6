"""Secrets never leave the process: one function strips them from every outgoing text.

Every path that turns an error or a value into text for someone else (a tool refusal, a
stored error message, a log line, `doctor`) runs it through `scrub()`. It removes two kinds:
- the password part of any URL's userinfo (`scheme://user:secret@host` -> `scheme://user:***@host`),
  whatever the URL is, so a host setting with credentials cannot leak even before it is known;
- every value registered with `register()` (database passwords, API keys), wherever it appears
  (a short one only as a whole word, see _WHOLE_WORD_BELOW).

The registry is process-wide on purpose: secrets are known when the configuration is
loaded (once, at start-up), and the places that print are many and far from it.
"""
from __future__ import annotations

import re

MASK = "***"
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s/@:]*):(?P<password>[^\s@]*)@")
_MIN_SECRET = 4  # shorter values are too common to replace anywhere in a text
# A value shorter than this is masked only where it stands as a whole word: a database
# password "secret" must not turn the hint "import secrets" into "import ***s". A longer one
# (every API key: config.API_KEY_MIN_LENGTH is 16) is masked wherever it appears.
_WHOLE_WORD_BELOW = 12
_secrets: frozenset[str] = frozenset()
_patterns: dict[str, re.Pattern[str]] = {}


def register(*values: str | None) -> None:
    """Remember values that must never be shown (empty and very short ones are ignored)."""
    global _secrets
    new = {v for v in values if v and len(v) >= _MIN_SECRET}
    if new - _secrets:
        _secrets = _secrets | new  # one assignment: readers see the old set or the new one


def scrub(text: str) -> str:
    """The text with URL passwords and every registered secret replaced by ***."""
    if not text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            if len(secret) >= _WHOLE_WORD_BELOW:
                text = text.replace(secret, MASK)
            else:
                pattern = _patterns.get(secret)
                if pattern is None:
                    pattern = _patterns[secret] = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(secret)}(?![A-Za-z0-9_])")
                text = pattern.sub(MASK, text)
    return text
