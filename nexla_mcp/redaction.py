"""Secret redaction for everything that leaves the process: errors, logs and tool results.

One module so that every layer scrubs the same things the same way:

- headers: ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``, ``X-API-Key``;
- JSON keys that name a secret (``password``, ``secret``, ``token``, ``api_key``, ``credentials``,
  ``private_key``, ``auth``, ``session``, ``cookie``, ``signature`` …) while leaving metadata keys
  such as ``data_credentials_id``, ``token_type``, ``expires_in`` or ``credentials_type`` alone
  (:mod:`nexla_mcp.secret_keys` judges the key names);
- values that look like secrets wherever they appear in text: bearer/basic credentials, JWTs,
  AWS access key ids, PEM blocks, URLs with ``user:password@``, ``password=…`` style pairs;
- literals registered at runtime (the service key, the current access token), which match no
  pattern but must never be echoed.

Every replacement reads ``«redacted:<kind>»`` so a reader can tell what was removed and why.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from nexla_mcp.secret_keys import secret_kind_of_key

__all__ = [
    "SENSITIVE_HEADERS",
    "RedactingFilter",
    "forget_secret",
    "install_redaction",
    "redact_headers",
    "redact_text",
    "redact_value",
    "redacted",
    "register_secret",
]

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)

# Registered literals shorter than this are ignored: scrubbing a 3-character string would mangle
# ordinary text, and no real Nexla key or token is that short.
MIN_SECRET_LITERAL_LENGTH = 6
# Tokens rotate; keep the most recent ones without letting the registry grow forever.
MAX_REGISTERED_SECRETS = 256


def redacted(kind: str) -> str:
    """The placeholder that replaces a secret of the given kind."""
    return f"«redacted:{kind}»"


# --- text patterns --------------------------------------------------------------------------


def _high_entropy(match: re.Match[str]) -> str:
    """Redact a long token that looks random: mixed case, digits scattered between letters, and
    no long lowercase run (which spares words, CamelCase names, paths, hex ids and UUIDs)."""
    text = match.group(0)
    uppers = sum(c.isupper() for c in text)
    lowers = sum(c.islower() for c in text)
    digit_letter_switches = len(re.findall(r"[0-9][A-Za-z]", text))
    longest_lower_run = max((len(run) for run in re.findall(r"[a-z]+", text)), default=0)
    if uppers >= 3 and lowers >= 3 and digit_letter_switches >= 3 and longest_lower_run <= 6:
        return redacted("high_entropy")
    return text


# Values that stand for a secret without being one: placeholders, references, masks, nulls,
# and the opening of a nested object or list (its own keys are judged one by one).
_NOT_A_VALUE = re.compile(
    r"«.*|<.*|\$\{.*|[{\[].*|\*+|(?i:null|none|nil|undefined|true|false|bearer|basic)[.:]?"
)
# After "key: " (a colon and a space, no quote) the text may be prose: "token: could not
# connect", "NEXLA_MCP_HTTP_TOKEN: any local process", "session: expired, renewing". There a
# plain word, CamelCase or CONSTANT_CASE name, number or path is the sentence going on when
# more words follow it, or when it is a status word; at the end of the text ("password:
# letmein") it is the value. A digit between letters, inner punctuation or mixed case make
# a secret either way. A status word ("expired") is never a secret value, in any syntax, and
# a number after a credential key is its id ("credential: 5009").
_PROSE_WORD = re.compile(
    r"\(?(?:[A-Za-z][a-z]{0,15}|[A-Z]{1,16}(?:_[A-Z]{1,16}){0,5}|(?:[A-Z][a-z]+){2,4}"
    r"|[a-z]+(?:_[a-z]+)+|[0-9]+(?:[/.,][0-9]+)*"
    r"|/[\w/.-]*)[.:!?]?"
)
_SENTENCE_GOES_ON = re.compile(r"[),.;:!?\"'\]]*[ \t]+[\w(/]")
_NUMBER = re.compile(r"[0-9]{1,12}")
_STATUS_WORDS = frozenset(
    "missing expired invalid required empty unset present provided rejected revoked denied "
    "ok set unknown absent renewed refreshed valid disabled enabled redacted hidden masked".split()
)


def _is_prose_separator(sep: str) -> bool:
    return ":" in sep and "=" not in sep and not any(q in sep for q in "\"'") and sep != ":"


def _redact_pair(match: re.Match[str], kind: str | None) -> str:
    """``key<sep>value`` with the value redacted when the key names a secret and the value is
    one (see ``_NOT_A_VALUE`` and ``_PROSE_WORD``)."""
    value, sep = match.group("value"), match.group("sep")
    scheme = match.groupdict().get("scheme") or ""
    if kind is None or _NOT_A_VALUE.fullmatch(value):
        return match.group(0)
    if value.rstrip(".:!?").lower() in _STATUS_WORDS:
        return match.group(0)
    if not scheme and _is_prose_separator(sep) and _PROSE_WORD.fullmatch(value):
        if _SENTENCE_GOES_ON.match(match.string, match.end()):
            return match.group(0)
        if kind == "credentials" and _NUMBER.fullmatch(value.rstrip(".:!?")):
            return match.group(0)
    return f"{match.group('key')}{sep}{redacted(kind)}"


_CREDENTIAL_WORD = r"[A-Za-z0-9._~+/:-]{6,}=*(?![A-Za-z0-9._~+/:=-])"


def _scheme_credential(kind: str) -> Any:
    """Redact the word after "Bearer"/"Basic" when it looks generated: a digit in it, or 24+
    characters of mixed case. That spares prose ("basic authentication", "Bearer token
    missing") and names ("Bearer NEXLA_MCP_HTTP_TOKEN", "Bearer /token")."""

    def replace(match: re.Match[str]) -> str:
        word = match.group("credential")
        generated = any(c.isdigit() for c in word) or (
            len(word) >= 24 and any(c.isupper() for c in word) and any(c.islower() for c in word)
        )
        return redacted(kind) if generated else match.group(0)

    return replace


_TEXT_PATTERNS: list[tuple[re.Pattern[str], str | Any]] = [
    # PEM first: its body would otherwise be chewed up piecemeal by the other patterns.
    (
        # An unterminated block (truncated text) loses only its base64 body, not what follows.
        re.compile(
            r"-----BEGIN ([A-Z0-9 ]+)-----(?:.*?-----END \1-----|[A-Za-z0-9+/=\s\\]*)", re.DOTALL
        ),
        redacted("pem"),
    ),
    (
        re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#@:]*:[^\s/?#@]*@"),
        lambda m: f"{m.group(1)}{redacted('userinfo')}@",
    ),
    (
        re.compile(
            r"(?i)(?P<key>\b(?:proxy-)?authorization)(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
            r"(?P<scheme>(?:bearer|basic|token)\s+)?(?P<value>[^\s\"',;]+)"
        ),
        lambda m: _redact_pair(m, "authorization"),
    ),
    # "=" only as trailing base64 padding.
    (
        re.compile(rf"(?i)\bbearer\s+(?P<credential>{_CREDENTIAL_WORD})"),
        _scheme_credential("bearer"),
    ),
    (re.compile(rf"(?i)\bbasic\s+(?P<credential>{_CREDENTIAL_WORD})"), _scheme_credential("basic")),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?"), redacted("jwt")),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), redacted("aws_access_key")),
    # key=value / "key": "value" pairs inside free text (log lines, error messages, query strings).
    # The key may be any identifier containing a secret word (secretAccessKey, X-Shopify-Access-
    # Token); secret_kind_of_key then spares metadata such as token_type. Affix lengths are
    # bounded so a megabyte-long word cannot make the scan quadratic.
    (
        re.compile(
            r"""(?ix)
            (?<![/\w.-])  # a whole identifier, not a path segment ("POST /token: ...")
            (?P<key>[a-z0-9_.-]{0,80}?
                (?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key
                   |private[_-]?key|service[_-]?key|session|signature|auth|cookie|credentials?)
                [a-z0-9_.-]{0,40}?)
            (?P<sep>["']?\s*[:=]\s*["']?)
            (?P<value>[^\s"'`&,;}\]\)]+)
            """
        ),
        lambda m: _redact_pair(m, secret_kind_of_key(m.group("key"))),
    ),
    # Well-known token formats (GitHub, Slack, Stripe, Google, Shopify).
    (
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|xox[abpors]-[A-Za-z0-9-]{10,}"
            r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35}"
            r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b"
        ),
        redacted("api_token"),
    ),
    # Unlabelled random-looking strings, e.g. an AWS secret key in a debug line.
    (re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{32,}={0,2}(?![A-Za-z0-9+/=])"), _high_entropy),
]


class _SecretRegistry:
    """Known secret literals (service key, access tokens), scrubbed even when no pattern matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: OrderedDict[str, str] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str, kind: str) -> None:
        if len(value) < MIN_SECRET_LITERAL_LENGTH:
            return
        with self._lock:
            self._secrets[value] = kind
            self._secrets.move_to_end(value)
            while len(self._secrets) > MAX_REGISTERED_SECRETS:
                self._secrets.popitem(last=False)
            self._rebuild()

    def discard(self, value: str) -> None:
        with self._lock:
            if self._secrets.pop(value, None) is not None:
                self._rebuild()

    def _rebuild(self) -> None:
        # Longest first so a token that contains another registered secret is removed whole.
        literals = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, literals))) if literals else None

    def scrub(self, text: str) -> str:
        pattern, secrets = self._pattern, self._secrets
        if pattern is None:
            return text
        return pattern.sub(lambda m: redacted(secrets.get(m.group(0), "secret")), text)


_registry = _SecretRegistry()


def register_secret(value: str | None, kind: str = "secret") -> None:
    """Scrub this literal from all future redaction output (e.g. the service key, a new token)."""
    if value:
        _registry.add(value, kind)


def forget_secret(value: str | None) -> None:
    """Stop scrubbing a literal registered earlier (rarely needed; tests use it)."""
    if value:
        _registry.discard(value)


def redact_text(text: str) -> str:
    """Return ``text`` with registered literals and secret-looking substrings replaced."""
    if not text:
        return text
    text = _registry.scrub(text)
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _reveals_nothing(value: Any) -> bool:
    return value is None or value is True or value is False or value == ""


def redact_value(obj: Any) -> Any:
    """Recursively redact a JSON-like value: secret keys are blanked, strings are scrubbed.

    ``None``, booleans and empty strings under a secret key are kept: they reveal nothing and
    tell the reader the field was unset.
    """
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, Mapping):
        result: dict[Any, Any] = {}
        for key, value in obj.items():
            kind = secret_kind_of_key(key) if isinstance(key, str) else None
            if kind is not None and not _reveals_nothing(value):
                result[key] = redacted(kind)
            else:
                result[key] = redact_value(value)
        return result
    if isinstance(obj, list | tuple | set | frozenset):
        return [redact_value(item) for item in obj]
    return obj


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Copy headers with credential-bearing ones replaced and the rest scrubbed as text."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    result: dict[str, str] = {}
    for name, value in items:
        if name.lower() in SENSITIVE_HEADERS:
            result[name] = redacted(name.lower())
        else:
            result[name] = redact_text(str(value))
    return result


# --- logging --------------------------------------------------------------------------------

_STANDARD_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record so no handler ever sees a secret.

    The message is rendered (``msg % args``) and redacted; exception and stack text are rendered
    and redacted into ``exc_text``/``stack_info`` (formatters reuse ``exc_text`` when it is set);
    ``extra=`` attributes are redacted as values. Records are never dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not take logging down
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_RECORD_ATTRS:
                record.__dict__[name] = redact_value(value)
        return True


def install_redaction(logger: logging.Logger) -> logging.Logger:
    """Attach a RedactingFilter to ``logger`` once (idempotent) and return the logger."""
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
