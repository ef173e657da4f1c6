"""Labels: what a label may hold (validators/work_order.py)."""
from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from validators.work_order import normalise_labels


@pytest.mark.parametrize("code", [0x00, 0x1B, 0x1F, 0x7F, 0x80, 0x85, 0x9B, 0x9F])
def test_labels_refuse_c0_del_and_c1_control_characters(code):
    # U+009B is the 8-bit CSI: "\x9b31m" colours a terminal as "\x1b[31m" does.
    with pytest.raises(InvalidInput, match="control characters"):
        normalise_labels([f"ops{chr(code)}31m"])


def test_labels_keep_printable_text_beyond_c1():
    # U+00A0 is a space (refused as such only at the ends); U+00A1 and later letters are text.
    assert normalise_labels(["¡olé", "müller", "日本", "needs review"]) == ["müller", "needs review", "¡olé", "日本"]
