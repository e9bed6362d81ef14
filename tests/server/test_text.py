"""Sanitising untrusted upstream text: nothing invisible, nothing secret, nothing unbounded."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from nexla_mcp.server.text import TRUNCATION_MARK, sanitize_text, sanitize_value


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        pytest.param("ok\x1b[31m red\x1b[0m", "ok red", id="ansi-colour"),
        pytest.param("a\x1b]0;title\x07b", "ab", id="ansi-osc-title"),
        pytest.param("null\x00byte\x7fdel\x85nel", "nullbytedelnel", id="c0-c1-controls"),
        pytest.param("zero\u200bwidth\u200d join\ufeff", "zerowidth join", id="zero-width"),
        pytest.param("evil\u202egnp.exe\u2066x\u2069", "evilgnp.exex", id="bidi-overrides"),
        pytest.param("tag\U000e0049\U000e0047chars", "tagchars", id="unicode-tags"),
        pytest.param("vs\ufe0f\ufe00x\U000e0100\U000e01efy", "vsxy", id="variation-selectors"),
        pytest.param("h\u115fa\u1160n\u3164g\uffa0ul", "hangul", id="hangul-fillers"),
        pytest.param("c\u034fg\u17b4j\u180bm\u2800b", "cgjmb", id="other-blank-marks"),
        pytest.param("line one\nline two\r\n\tthree", "line one line two  three", id="newlines"),
        pytest.param("résumé 数据 🙂", "résumé 数据 🙂", id="ordinary-unicode-kept"),
    ],
)
def test_sanitize_text_strips_what_could_hide_or_disguise_content(raw: str, clean: str) -> None:
    """Escape sequences, control and format characters go; visible text stays."""
    assert sanitize_text(raw) == clean


def test_sanitize_text_removes_every_unicode_format_and_control_character() -> None:
    """No character of category Cf or Cc survives (line breaks become spaces, tested above)."""
    hidden = [
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in {"Cf", "Cc"} and chr(code) not in "\t\n\r"
    ]
    assert sanitize_text("x" + "".join(hidden) + "y", max_chars=10_000) == "xy"


def test_keep_newlines_keeps_line_structure_but_not_carriage_returns() -> None:
    """Multi-line summaries keep \\n and \\t; CR and separators become \\n."""
    assert sanitize_text("a\r\nb\u2028c\td\x00", keep_newlines=True) == "a\nb\nc\td"


def test_sanitize_text_redacts_secrets_even_when_split_by_invisible_characters() -> None:
    """Stripping runs before redaction, so a zero-width space cannot smuggle a token out."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlMTIz"
    cleaned = sanitize_text(f"auth failed for Bearer {jwt[:10]}\u200b{jwt[10:]}")
    assert jwt not in cleaned and jwt[:20] not in cleaned
    assert "«redacted:" in cleaned


def test_sanitize_text_caps_length_with_a_marker() -> None:
    """Long text is cut to max_chars, marker included."""
    cleaned = sanitize_text("x" * 5000, max_chars=100)
    assert len(cleaned) == 100
    assert cleaned.endswith(TRUNCATION_MARK)
    assert sanitize_text("short", max_chars=100) == "short"


def test_sanitize_value_cleans_nested_strings_and_secret_keys() -> None:
    """Strings at any depth are sanitised and values under secret-named keys are blanked."""
    value = {
        "name\u200b": "flow\x1b[1m one",
        "nested": [{"password": "hunter2-hunter2", "note": "a\nb"}],
        "count": 3,
        "ok": True,
    }
    assert sanitize_value(value) == {
        "name": "flow one",
        "nested": [{"password": "«redacted:password»", "note": "a b"}],
        "count": 3,
        "ok": True,
    }
