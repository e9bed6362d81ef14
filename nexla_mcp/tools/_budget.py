"""Caller token budgets: what a result costs the model, and cutting a list result to fit.

A list or log tool that accepts ``max_tokens`` builds its answer with as many rows as fit:
``fit`` asks the tool for its result with the first ``n`` rows (the tool also shortens fields
and moves its cursor to the first row left out) and keeps the largest ``n`` whose estimate is
within the budget. Every such result carries ``tokens``, its own estimate.

The estimate is cheap (one regular-expression pass, no vocabulary) and errs high: it counts
letters in fives, digits in threes and punctuation in threes, which o200k_base merges into
fewer tokens in practice (JSON results measure 1.15-1.3 estimated tokens per real token).
``tests/tools/test_budget.py`` checks it against the real tokenizer on every kind of result,
so a result that fits the estimate fits the real count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Annotated

from mcp.types import CallToolResult, TextContent
from pydantic import Field

__all__ = [
    "SHORT_NAME_CHARS",
    "LeftOut",
    "MaxTokens",
    "Tokens",
    "estimate_tokens",
    "fit",
    "left_out",
    "result_tokens",
    "shorten",
]

_PIECES = re.compile(r"[A-Za-z]+|\d+|[!-/:-@\[-`{-~]+|\s+|[^\x00-\x7f]")
MaxTokens = Annotated[
    int | None,
    Field(ge=200, le=50_000, description="Token budget: rows cut to fit"),
]
# The two fields every result of a tool with max_tokens carries.
LeftOut = Annotated[str | None, Field(description="What max_tokens left out, how to get it")]
Tokens = Annotated[int | None, Field(description="Estimated tokens of this answer")]
# Names in the rows of a tight budget's last stage are cut to this (the get_ tool has them).
SHORT_NAME_CHARS = 32
# A "tokens":NNNN field adds about this much to the result it describes.
_FIELD_COST = 6


def estimate_tokens(text: str) -> int:
    """An upper estimate of ``text``'s o200k_base token count."""
    count = 0
    after_space = False
    for match in _PIECES.finditer(text):
        piece = match.group()
        first = piece[0]
        if first.isascii() and first.isalpha():
            count += -(-len(piece) // 5)
        elif first.isdigit():
            # o200k never merges a space into a number: " 15" is two tokens.
            count += -(-len(piece) // 3) + after_space
        elif first.isspace():
            count += 0 if piece == " " else -(-len(piece) // 4)
        elif first.isascii():
            count += -(-len(piece) // 3)
        else:
            count += max(1, len(piece.encode()) // 2)
        after_space = first.isspace()
    return count


def shorten(text: str | None, chars: int = SHORT_NAME_CHARS) -> str | None:
    """``text`` cut to ``chars`` characters, the last one an ellipsis when it was cut."""
    return text if text is None or len(text) <= chars else text[: chars - 1] + "…"


def left_out(budget: int | None, what: Sequence[str]) -> str | None:
    """The ``left_out`` of a result cut to ``budget``: each thing left out and how to get it."""
    return f"To fit max_tokens={budget}: {'; '.join(what)}." if what else None


def result_tokens(result: CallToolResult) -> int:
    """Estimated tokens of a result as a host bills it: its text plus its structured content."""
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    structured = result.structured_content
    extra = (
        0 if structured is None else estimate_tokens(json.dumps(structured, separators=(",", ":")))
    )
    return estimate_tokens(text) + extra


Build = Callable[[int, int], CallToolResult]


def fit(stages: Sequence[Build], rows: int, budget: int | None) -> CallToolResult:
    """The result with the most rows that fits ``budget``, from the first stage that can.

    ``stage(n, tokens)`` returns the result with the first ``n`` rows whose ``tokens`` field
    says ``tokens`` (0 while measuring); later stages shorten fields. Without a budget the
    first stage shows every row. With one, the first stage is kept if every row fits, else the
    last stage shows as many rows as fit. When not even zero rows fit, the zero-row result is
    returned: it still says how many rows exist and how to get them.
    """

    def measured(stage: Build, n: int) -> tuple[CallToolResult, int]:
        cost = result_tokens(stage(n, 0)) + _FIELD_COST
        return stage(n, cost), cost

    result, cost = measured(stages[0], rows)
    if budget is None or cost <= budget:
        return result
    low, high = 0, rows
    while low < high:
        middle = (low + high + 1) // 2
        if measured(stages[-1], middle)[1] <= budget:
            low = middle
        else:
            high = middle - 1
    return measured(stages[-1], low)[0]
