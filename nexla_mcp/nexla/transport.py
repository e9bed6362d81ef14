"""The one place HTTP happens: auth headers, retries, deadlines, breaker, budget, response checks.

Why a hand-written loop rather than stamina: the behaviour we need is decided per *attempt
outcome*, not per exception type — the same 503 is retried for a GET but only with Retry-After
for a write; a read timeout is retried for a GET but must surface as an ambiguous write for a
PUT; the delay is ``max(backoff, Retry-After)`` but only when it fits the remaining deadline; each
retry must first be paid for from the host's budget and allowed by its breaker. Expressing that
through stamina's ``on=`` predicate and backoff hook splits one decision across callbacks with
shared mutable state, so the ~100-line loop below is easier to read and to test with an injected
``sleep``/``clock``/``rng``.

What is retried (at most ``policy.max_attempts`` attempts, within ``policy.deadline_s``):

- idempotent requests (GET; and calls the client marks idempotent: resource updates, accessor
  changes, probe tree/sample, ``POST /token``) on 408/429/500/502/503/504, connect errors, timeouts,
  dropped connections, protocol errors and invalid JSON;
- writes (POST, activate/pause PUT, DELETE) only when the request provably never reached the
  server (connect error, connect or pool timeout), or on 429/503 *with* Retry-After. A write
  that fails after it may have reached the server raises :class:`AmbiguousWriteError` (or a
  ``ServerError`` with ``outcome_unknown``) and is never retried blindly. DELETE is treated as a
  write because a retry after a delete that did happen answers 404, which would mislead.

Redirects are never followed, so credentials never reach another host.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import httpx

from nexla_mcp.correlation import HEADER as CORRELATION_HEADER
from nexla_mcp.correlation import correlation_id
from nexla_mcp.errors import (
    AmbiguousWriteError,
    ApiUrlError,
    CircuitOpenError,
    InvalidResponseError,
    NexlaError,
    RetryBudgetExhaustedError,
    UpstreamTimeoutError,
)
from nexla_mcp.faults import clock_skew_s, explain_token_rejection
from nexla_mcp.nexla.auth import TokenManager
from nexla_mcp.nexla.outcomes import (
    ApiResponse,
    AttemptFailure,
    classify_exception,
    classify_response,
    encode_query,
    error_from_reply,
    too_large,
)
from nexla_mcp.nexla.reliability import RetryPolicy, endpoint_family, guard_for_host
from nexla_mcp.redaction import install_redaction
from nexla_mcp.versions import installed_version

__all__ = ["ACCEPT", "ApiResponse", "Transport", "user_agent"]

logger = install_redaction(logging.getLogger("nexla_mcp.nexla"))

ACCEPT = "application/vnd.nexla.api.v1+json"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def user_agent() -> str:
    """``nexla-mcp/<version>``."""
    return f"nexla-mcp/{installed_version('nexla-mcp') or '0'}"


class _CallState:
    def __init__(self) -> None:
        self.write_in_flight = False
        self.attempts = 0


class Transport:
    """Sends one logical API call: token, attempts, sleeps and checks under one deadline."""

    def __init__(
        self,
        *,
        api_url: str,
        http_client: httpx.AsyncClient,
        tokens_from: Callable[[Transport], TokenManager],
        policy: RetryPolicy,
        timeout: httpx.Timeout,
        sleep: Callable[[float], Awaitable[Any]],
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        url = httpx.URL(self.api_url)
        self.host = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        self._http = http_client
        self.policy = policy
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._user_agent = user_agent()
        self.guard = guard_for_host(self.host, policy)
        self.tokens = tokens_from(self)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        operation: str | None = None,
        ok_statuses: frozenset[int] = frozenset(),
    ) -> ApiResponse:
        """Perform an authenticated call and return its checked 2xx (or ``ok_statuses``) reply.

        Raises:
            NexlaError: the mapped subclass for any failure; see the module docstring.
        """
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        state = _CallState()
        with anyio.move_on_after(self.policy.deadline_s):
            token = await self.tokens.token()
            reply = await self._send(
                method, path, f"Bearer {token}", params, json_body, safe, state
            )
            if reply.status_code == 401 and self.tokens.can_renew:
                token = await self.tokens.renew(stale=token)
                reply = await self._send(
                    method, path, f"Bearer {token}", params, json_body, safe, state
                )
            if reply.status_code >= 300 and reply.status_code not in ok_statuses:
                error = error_from_reply(method, path, reply, operation)
                if reply.status_code == 401:
                    explain_token_rejection(
                        error,
                        skew_s=clock_skew_s(reply.headers.get("date"), time.time()),
                        renewable=self.tokens.can_renew,
                    )
                raise error
            return reply
        raise self._deadline_error(method, path, state)

    async def fetch_token(self, service_key: str) -> Any:
        """``POST /token`` with the raw key as Basic credentials; the parsed body."""
        state = _CallState()
        try:
            reply = await self._send(
                "POST", "/token", f"Basic {service_key}", None, None, True, state
            )
        except InvalidResponseError as error:
            if error.status_code is None or error.status_code >= 300:
                raise
            # A 2xx page that is not JSON: a web server (or a UI) answers at NEXLA_API_URL.
            raise ApiUrlError(
                f"POST /token answered HTTP {error.status_code} with a page that is not JSON: "
                "NEXLA_API_URL does not point at the Nexla API.",
                status_code=error.status_code,
                response=error.response,
                operation="obtain_session_token",
            ) from error
        if reply.status_code >= 300:
            error = error_from_reply("POST", "/token", reply, "obtain_session_token")
            if reply.status_code == 401:
                explain_token_rejection(
                    error,
                    skew_s=clock_skew_s(reply.headers.get("date"), time.time()),
                    renewable=True,
                    key=True,
                )
            raise error
        return reply.body

    async def logout(self, token: str) -> None:
        """Best-effort ``POST /token/logout``; never raises, never retries, gives up after 2 s."""
        with anyio.move_on_after(2.0):
            try:
                request = self._build("POST", "/token/logout", f"Bearer {token}", None, None)
                response = await self._http.send(request, follow_redirects=False)
                await response.aclose()
            except httpx.HTTPError as exc:
                logger.info("logout failed (ignored): %s", type(exc).__name__)

    def _build(
        self, method: str, path: str, auth: str, params: Any, json_body: Any
    ) -> httpx.Request:
        headers = {"Accept": ACCEPT, "User-Agent": self._user_agent, "Authorization": auth}
        if (call_id := correlation_id()) is not None:
            headers[CORRELATION_HEADER] = call_id
        content: bytes | None = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(json_body).encode()
        elif method in {"POST", "PUT"}:
            headers["Content-Length"] = "0"
        return self._http.build_request(
            method,
            self.api_url + path,
            params=encode_query(params),
            content=content,
            headers=headers,
            timeout=self._timeout,
        )

    async def _send(
        self,
        method: str,
        path: str,
        auth: str,
        params: Any,
        json_body: Any,
        idempotent: bool,
        state: _CallState,
    ) -> ApiResponse:
        """Attempt loop; returns any non-retry-worthy reply, raises once retrying must stop."""
        breaker, budget = self.guard.breaker_for(path), self.guard.budget
        start = self._clock()
        spent = 0
        last: AttemptFailure | None = None
        for attempt in range(1, self.policy.max_attempts + 1):
            if not breaker.try_acquire(self._clock()):
                wait = breaker.seconds_until_trial(self._clock()) or 1.0
                raise CircuitOpenError(
                    f"Nexla API at {self.host} is failing on {endpoint_family(path)}; circuit "
                    f"open, retry in {wait:.0f} s.",
                    retry_after=wait,
                    context={"method": method, "path": path},
                    original_error=last.error if last else None,
                    status_code=last.error.status_code if last else None,
                )
            state.attempts += 1
            verdict_recorded = False
            try:
                outcome = await self._attempt(
                    method, path, auth, params, json_body, idempotent, state
                )
                if isinstance(outcome, ApiResponse):
                    breaker.record_success()
                    verdict_recorded = True
                    budget.record_success(spent)
                    return outcome
                if outcome.breaker_failure:
                    breaker.record_failure(self._clock())
                else:
                    breaker.record_success()
                verdict_recorded = True
            finally:
                if not verdict_recorded:
                    breaker.release_trial()
            last = outcome
            delay = self._retry_delay(outcome, attempt, start)
            if delay is None:
                raise outcome.error
            cost = self._retry_cost(outcome)
            if not budget.try_spend(cost):
                raise RetryBudgetExhaustedError(
                    f"Stopped retrying {method} {path}: the retry budget for {self.host} is "
                    f"spent ({type(outcome.error).__name__} after {attempt} attempt(s)).",
                    original_error=outcome.error,
                    status_code=outcome.error.status_code,
                    retry_after=outcome.error.retry_after,
                    context={"method": method, "path": path, "attempts": attempt},
                )
            spent += cost
            logger.warning(
                "retrying %s %s: attempt %d/%d failed (%s), sleeping %.2f s; budget %d, breaker %s",
                method,
                path,
                attempt,
                self.policy.max_attempts,
                type(outcome.error).__name__,
                delay,
                budget.tokens,
                breaker.state.value,
                extra={
                    "attempt": attempt,
                    "reason": type(outcome.error).__name__,
                    "delay": delay,
                    "budget": budget.tokens,
                    "breaker": breaker.state.value,
                },
            )
            await self._sleep(delay)
        assert last is not None  # the loop either returned or recorded a failure
        raise last.error

    def _retry_cost(self, failure: AttemptFailure) -> int:
        if failure.error.status_code == 429:
            return self.policy.throttle_retry_cost
        return self.policy.timeout_retry_cost if failure.is_timeout else self.policy.retry_cost

    def _retry_delay(self, failure: AttemptFailure, attempt: int, start: float) -> float | None:
        """Seconds to sleep before the next attempt, or None to stop and raise now."""
        if not failure.retry_allowed or attempt >= self.policy.max_attempts:
            return None
        remaining = self.policy.deadline_s - (self._clock() - start)
        delay = self.policy.backoff(attempt, self._rng)
        if failure.retry_after is not None:
            if failure.retry_after > min(self.policy.max_retry_after_s, remaining):
                return None
            delay = max(delay, failure.retry_after)
        return delay if delay < remaining else None

    async def _attempt(
        self,
        method: str,
        path: str,
        auth: str,
        params: Any,
        json_body: Any,
        idempotent: bool,
        state: _CallState,
    ) -> ApiResponse | AttemptFailure:
        request = self._build(method, path, auth, params, json_body)
        where = f"{method} {path}"
        # Left set if the deadline cancels us mid-exchange: that write's outcome is unknown.
        state.write_in_flight = not idempotent
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
            try:
                content = await self._read_capped(response, where)
            finally:
                await response.aclose()
        except (httpx.TransportError, httpx.DecodingError) as exc:
            state.write_in_flight = False
            return classify_exception(exc, method, path, idempotent)
        state.write_in_flight = False
        return classify_response(
            method,
            path,
            response,
            content,
            idempotent=idempotent,
            retry_statuses=self.policy.retry_statuses,
        )

    async def _read_capped(self, response: httpx.Response, where: str) -> bytes:
        limit = self.policy.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(where, limit, response.status_code)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_large(where, limit, response.status_code)
            chunks.append(chunk)
        return b"".join(chunks)

    def _deadline_error(self, method: str, path: str, state: _CallState) -> NexlaError:
        seconds = self.policy.deadline_s
        context = {"method": method, "path": path, "attempts": state.attempts}
        details = {"deadline_s": seconds}
        if state.write_in_flight:
            return AmbiguousWriteError(
                f"{method} {path} did not finish within {seconds:g} s while the request was in "
                "flight; it may or may not have been applied.",
                context=context,
                details=details,
            )
        return UpstreamTimeoutError(
            f"{method} {path} did not complete within the {seconds:g} s deadline.",
            context=context,
            details=details,
        )
