"""Text that cannot lie about itself on screen: Unicode bidirectional controls shown as visible codes.

A name such as ``model\u202eLMTH.exe`` displays as ``modelexe.HTML`` wherever it is printed; every surface
that shows user-controlled names (HTML report, leaderboard exports, CLI messages) passes them through
:func:`clean` first.
"""

from __future__ import annotations

import re
from typing import Any

# Embeddings, overrides, isolates and marks (U+202A-E, U+2066-9, U+200E/F, U+061C).
BIDI_CONTROLS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI_RE = re.compile(f"[{BIDI_CONTROLS}]")


def clean(text: Any) -> Any:
    """``text`` with every bidi control replaced by its visible code (``[U+202E]``); non-strings unchanged."""
    if not isinstance(text, str) or not _BIDI_RE.search(text):
        return text
    return _BIDI_RE.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)
