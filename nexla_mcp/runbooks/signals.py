"""Read a root-cause category out of error wording: log lines, probe replies, notifications.

Upstream systems say what went wrong in fairly stable words: HTTP status lines ("401
Unauthorized", "429 Too Many Requests"), driver exceptions ("SocketTimeoutException",
"duplicate key value violates unique constraint"), cloud error codes ("AccessDenied",
"ExpiredToken"). Each category below is a family of such phrases. Matching runs on the cleaned
line, never on ids or names: a category follows from what the system said, not from which
flow said it.

Status codes only count next to their reason phrase or a "status"/"HTTP" label, so that
"record offset 401" is not an authentication failure.
"""

from __future__ import annotations

import re

from nexla_mcp.runbooks.report import Category

__all__ = ["TEXT_CATEGORIES", "categories_in"]


def _family(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns), re.IGNORECASE)


def _status(code: int, reason: str) -> str:
    """``401 Unauthorized``, ``HTTP 401``, ``status: 401``, ``Status Code: 401``."""
    return rf"\b{code}\s+{reason}|\b(?:http|status(?:[ _]?code)?)\s*[:=]?\s*{code}\b"


_FAMILIES: dict[Category, re.Pattern[str]] = {
    "credential_expired": _family(
        _status(401, "unauthori[sz]ed"),
        r"\bunauthori[sz]ed\b",
        r"\b(?:token|password|credentials?|session|api[ _-]?key|certificate)s?\b[^.;]{0,40}"
        r"\bexpired\b",
        r"\bexpired[ _-]?(?:token|authentication|credentials?|password)\b",
        r"\bauthentication failed\b",
        r"\bcould not authenticate\b",
        r"\binvalid_grant\b",
        r"\binvalid (?:access )?token\b",
    ),
    "permission_denied": _family(
        _status(403, "forbidden"),
        r"\bforbidden\b",
        r"\baccess ?denied\b",
        r"\bpermission denied\b",
        r"\bnot authori[sz]ed to\b",
        r"\binsufficient[_ ](?:scope|privileges?|permissions?)\b",
        r"\bsqlstate 42501\b",
        r"\bauthorizationexception\b",
        r"\bmissing a scope\b",
    ),
    "rate_limited": _family(
        _status(429, "too many requests"),
        r"\btoo many requests\b",
        r"\brate[ -]?limit(?:ed|ing)?\b",
        r"\bthrottl(?:ed|ing|e)\b",
        r"\bquota (?:exceeded|exhausted)\b",
    ),
    "network_timeout": _family(
        r"\btimed out\b",
        r"\btime ?out (?:error|exception|while|after)\b",
        r"\bsockettimeoutexception\b",
        r"\bconnect(?:ion)? timeout\b",
        r"\bconnection (?:refused|reset|closed by peer|aborted)\b",
        r"\b(?:econnrefused|econnreset|etimedout|ehostunreach)\b",
        r"\bno route to host\b",
        r"\b(?:host|network) (?:is )?unreachable\b",
        r"\bcould not resolve host\b",
        r"\bname or service not known\b",
        r"\bunknownhostexception\b",
    ),
    "resource_conflict": _family(
        _status(409, "conflict"),
        r"\bconflict\b",
        r"\bduplicate (?:key|entry|value|record)s?\b",
        r"\bduplicate_value\b",
        r"\balready exists\b",
        r"\bunique constraint\b",
    ),
    "transform_error": _family(
        r"\btransform(?:ation)? (?:failed|errors?|exception)\b",
        r"\b(?:keyerror|typeerror|attributeerror|nameerror|valueerror|zerodivisionerror|"
        r"indexerror)\b",
        r"\bin code container\b",
        r"\btraceback \(most recent call last\)",
        r"\bjolt (?:spec|transform)\w* (?:failed|error)",
    ),
    "schema_mismatch": _family(
        r"\bschema (?:validation|mismatch|violation|error)\b",
        r"\bexpected (?:a |an )?(?:number|string|integer|int|boolean|bool|date|timestamp|"
        r"object|array|float|double|decimal)\b[^.;]{0,20}\bgot\b",
        r"\bdoes not match (?:the )?(?:expected )?schema\b",
        r"\b(?:failed to|cannot|could not|unable to) parse\b",
        r"\bparse (?:error|failure)\b",
        r"\btype mismatch\b",
        r"\b(?:unexpected|unknown|missing) column\b",
        r"\bfailed schema validation\b",
    ),
    "stale_data": _family(
        r"\bnot ingested (?:any )?new data\b",
        r"\bno new (?:data|records|files)\b",
        r"\bstale data\b",
    ),
    # Record-level rejections are a symptom, not a cause: they support high_error_rate only.
    "high_error_rate": _family(
        r"\brecords? rejected\b",
        r"\brejected (?:\d+ )?records?\b",
        r"\binvalid records?\b",
    ),
    "flow_not_running": _family(
        r"\bpaused automatically\b",
        r"\b(?:was|been) (?:auto[- ]?)?paused\b",
        r"\bdeactivated\b",
    ),
}
TEXT_CATEGORIES: tuple[Category, ...] = tuple(_FAMILIES)
# Expiry wording is more specific than the status it travels with: probes and some APIs answer
# an expired token with 403, and "token expired" then decides between the two.
_EXPIRY = re.compile(r"\bexpir(?:ed|y)\b|\bexpiredtoken\b", re.IGNORECASE)


def categories_in(text: str) -> set[Category]:
    """Every category whose wording appears in ``text``."""
    found = {category for category, pattern in _FAMILIES.items() if pattern.search(text)}
    if {"credential_expired", "permission_denied"} <= found and _EXPIRY.search(text):
        found.discard("permission_denied")
    return found
