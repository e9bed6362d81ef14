"""The characters that render as nothing, and ``strip_invisible``: the one list every sanitiser
strips (log clustering, text from Nexla in tool results, names written back to Nexla)."""

import re

__all__ = ["FORMAT_CHARS", "strip_invisible"]

# Unicode format characters (category Cf): soft hyphen, Arabic number marks, zero-width
# space/joiners, LRM/RLM, bidi embeddings, overrides and isolates, word joiner and invisible
# operators, BOM, interlinear annotations, tag characters (which spell text a model reads and a
# person does not see); plus line/paragraph separators. Then characters that are not Cf but
# render as nothing (or as blank) and so can carry hidden text the same way: the combining
# grapheme joiner, Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), Khmer inherent vowels,
# Mongolian variation selectors, variation selectors (U+FE00-FE0F, U+E0100-E01EF) and the
# blank braille pattern.
FORMAT_CHARS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
    "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef"
)
# Control and format characters can hide instructions or reorder text on screen; none of them
# carries meaning in a log line or a name.
_INVISIBLE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{FORMAT_CHARS}]")


def strip_invisible(text: str) -> str:
    """Remove control, bidi and zero-width characters; tabs and newlines become spaces."""
    return _INVISIBLE.sub("", text.replace("\t", " ").replace("\r", " ").replace("\n", " "))
