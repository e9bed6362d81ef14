"""Configuration faults: which class of fix a failure needs, and the words that say so.

A user fixes a wrong ``NEXLA_API_URL``, an unreachable host, a TLS failure, a rejected service
key, an expired access token or a skewed clock in different places. These functions give an
error its class (``fault``, a key of ``FAULTS``) and, where the HTTP status alone does not
tell, the message and hint that name the real cause and the setting to fix. ``nexla-mcp
doctor`` exits with a code per class; ``get_server_context`` reports the class of the last
failure.
"""

from __future__ import annotations

import socket
import ssl
from email.utils import parsedate_to_datetime

from nexla_mcp.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    AuthorizationError,
    NetworkError,
    NexlaError,
    TlsError,
    UnreachableError,
)
from nexla_mcp.redaction import redact_text

__all__ = [
    "FAULTS",
    "MAX_CLOCK_SKEW_S",
    "clock_skew_s",
    "connect_error",
    "explain_token_rejection",
    "fault_of",
]

# The failure classes a user fixes in different places; ``nexla-mcp doctor`` exits with a
# distinct code for each (``nexla_mcp.doctor.EXIT_CODES``).
FAULTS = {
    "api_url": "NEXLA_API_URL does not point at the Nexla API",
    "unreachable": "the Nexla API host cannot be reached",
    "tls": "the TLS connection to the Nexla API failed",
    "service_key": "Nexla rejected NEXLA_SERVICE_KEY",
    "access_token": "Nexla rejected NEXLA_ACCESS_TOKEN (expired or revoked)",
    "clock_skew": "this machine's clock is off, so tokens look expired",
    "permission": "the Nexla user lacks access",
    "upstream": "Nexla answered with an error",
}
# A gap past this between our clock and the server's Date header explains a token rejection.
MAX_CLOCK_SKEW_S = 300.0


def connect_error(where: str, host: str, exc: BaseException) -> NetworkError:
    """The error for a connection that never got a reply: DNS, refused, TLS, or other."""
    cause = _connect_cause(exc)
    context = {"method": where.split(" ", 1)[0], "path": where.split(" ", 1)[-1]}
    if cause == "tls":
        return TlsError(
            f"{where}: the TLS handshake with {host} failed ({_first_line(exc)}).",
            original_error=exc,
            context=context,
        )
    if cause in ("dns", "refused"):
        what = "does not resolve" if cause == "dns" else "refused the connection"
        return UnreachableError(
            f"{where}: {host} {what}; nothing answered, so nothing was sent.",
            original_error=exc,
            context=context,
        )
    return NetworkError(
        f"{where}: could not connect to {host} ({type(exc).__name__}).",
        original_error=exc,
        context=context,
        fault="unreachable",
    )


def _connect_cause(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    texts = []
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLError):
            return "tls"
        if isinstance(seen, socket.gaierror):
            return "dns"
        if isinstance(seen, ConnectionRefusedError):
            return "refused"
        texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    text = " ".join(texts).lower()
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "tls"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "dns"
    if "getaddrinfo" in text or "temporary failure in name resolution" in text:
        return "dns"
    if "connection refused" in text or "errno 111" in text or "connect call failed" in text:
        return "refused"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__


def clock_skew_s(date_header: str | None, now: float) -> float | None:
    """Seconds our clock (``now``, epoch) is ahead of the server's ``Date`` header (negative:
    behind); None without a parseable header."""
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if server.tzinfo is None:
        return None
    return now - server.timestamp()


def explain_token_rejection(
    error: NexlaError, *, skew_s: float | None, renewable: bool, key: bool = False
) -> NexlaError:
    """Say why Nexla answered 401, in place: a skewed clock, the service key (``key``: the
    401 came from ``POST /token``), or an access token that cannot be renewed. A 401 after a
    fresh session token was obtained and retried is left as Nexla said it."""
    if skew_s is not None and abs(skew_s) > MAX_CLOCK_SKEW_S:
        side = "ahead of" if skew_s > 0 else "behind"
        _restate(
            error,
            f"Nexla rejected the token, and this machine's clock is {abs(skew_s) / 60:.0f} min "
            f"{side} the server's: tokens look expired or not yet valid.",
        )
        error.fault = "clock_skew"
        error.hint = (
            "Fix the system clock (turn on network time sync, NTP); no nexla-mcp setting "
            "can correct it."
        )
    elif key:
        _restate(error, "Nexla rejected NEXLA_SERVICE_KEY (HTTP 401 on POST /token).")
        error.fault = "service_key"
        error.hint = (
            "Set NEXLA_SERVICE_KEY to a valid service key of your Nexla org (create one in the "
            "Nexla UI; keys are shown once), and check NEXLA_API_URL is that org's API."
        )
    elif not renewable:
        _restate(
            error,
            "Nexla rejected NEXLA_ACCESS_TOKEN (HTTP 401): access tokens expire, and this "
            "one has expired or was revoked.",
        )
        error.fault = "access_token"
        error.hint = (
            "Access tokens cannot be renewed: set NEXLA_SERVICE_KEY instead (it renews "
            "itself), or a fresh NEXLA_ACCESS_TOKEN."
        )
    return error


def _restate(error: NexlaError, message: str) -> None:
    error.message = redact_text(message)
    error.args = (error.message,)


def fault_of(error: BaseException) -> str:
    """The failure class (a key of ``FAULTS``) a user has to act on for ``error``."""
    if isinstance(error, NexlaError) and error.fault is not None:
        return error.fault
    if isinstance(error, NetworkError) and not isinstance(error, AmbiguousWriteError):
        return "unreachable"
    if isinstance(error, AuthenticationError):
        return "service_key" if error.operation == "obtain_session_token" else "access_token"
    if isinstance(error, AuthorizationError):
        return "permission"
    return "upstream"
