"""Argument rules that the tools and the board both apply, so a title or a text is refused
the same way wherever a person or an agent types it. No mcp import: the board (web/) uses
them without the MCP SDK.
"""

from domain.errors import InvalidInput
from domain.models import TEXT_MAX


def text_bytes(name: str, value: str | None, limit: int = TEXT_MAX) -> str | None:
    """TEXT columns hold 65,535 bytes, not characters: check the UTF-8 size before SQL does."""
    if value is not None and len(value.encode("utf-8", "surrogatepass")) > limit:
        raise InvalidInput(f"{name} is {len(value.encode('utf-8', 'surrogatepass'))} bytes; at most {limit} bytes fit. Shorten it.")
    return value


def title(value: str) -> str:
    """The title without its surrounding blanks; one of blanks only is refused."""
    if not value.strip():
        raise InvalidInput("title is blank. Give a short, specific title.")
    return value.strip()
