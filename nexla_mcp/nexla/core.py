"""What every endpoint mixin of ``NexlaClient`` shares: the transport and small request helpers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar, get_args

from pydantic import BaseModel

from nexla_mcp.errors import InvalidResponseError, NexlaError, ValidationError
from nexla_mcp.faults import fault_of
from nexla_mcp.nexla.models import Page, ResourceType
from nexla_mcp.nexla.transport import ApiResponse, Transport

__all__ = [
    "ClientCore",
    "UpstreamOutcome",
    "check_id",
    "check_resource_type",
    "epoch_ms",
    "epoch_s",
    "iso_date",
]

M = TypeVar("M", bound=BaseModel)
RESOURCE_TYPES: tuple[str, ...] = get_args(ResourceType)


def _bad_input(message: str) -> ValidationError:
    return ValidationError(message, operation="validate_arguments", hint="Fix the argument.")


def check_resource_type(
    value: str, allowed: tuple[str, ...] = RESOURCE_TYPES, name: str = "resource_type"
) -> str:
    """Return ``value`` if it is one of ``allowed``; nothing is sent otherwise.

    Raises:
        ValidationError: for any other value.
    """
    if value not in allowed:
        raise _bad_input(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_id(value: Any, name: str = "id") -> int:
    """Return ``value`` if it is a positive int (bools excluded).

    Raises:
        ValidationError: otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _bad_input(f"{name} must be a positive integer; got {value!r}")
    return value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds (naive datetimes are taken as UTC)."""
    return int(_utc(moment).timestamp() * 1000)


def epoch_s(moment: datetime) -> int:
    """Epoch seconds (naive datetimes are taken as UTC)."""
    return int(_utc(moment).timestamp())


def iso_date(day: date | datetime) -> str:
    """``YYYY-MM-DD``."""
    return (day.date() if isinstance(day, datetime) else day).isoformat()


def header_int(reply: ApiResponse, name: str) -> int | None:
    """An integer response header, or None when absent or malformed."""
    value = reply.headers.get(name, "").strip()
    return int(value) if value.isdigit() else None


@dataclass(frozen=True)
class UpstreamOutcome:
    """How one API call ended: ``ok``, or the failure class (``faults.FAULTS``) and type."""

    outcome: str
    at: float
    error: str | None = None

    @classmethod
    def of(cls, error: NexlaError | None) -> UpstreamOutcome:
        """The outcome now: ok without ``error``, else its fault and class name."""
        if error is None:
            return cls("ok", time.time())
        return cls(fault_of(error), time.time(), type(error).__name__)


class ClientCore:
    """Request helpers used by the endpoint mixins; ``NexlaClient`` sets ``_transport``."""

    _transport: Transport

    last_outcome: UpstreamOutcome | None = None
    """How the latest API call ended (None before the first), for get_server_context."""

    async def _call(
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
        try:
            reply = await self._transport.request(
                method,
                path,
                params=params,
                json_body=json_body,
                idempotent=idempotent,
                operation=operation,
                ok_statuses=ok_statuses,
            )
        except NexlaError as error:
            self.last_outcome = UpstreamOutcome.of(error)
            raise
        self.last_outcome = UpstreamOutcome.of(None)
        return reply

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._call(method, path, **kwargs)).body

    async def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        body = await self._json(method, path, **kwargs)
        return self._validate(model, body if body is not None else {}, f"{method} {path}")

    async def _page(
        self, model: type[M], path: str, params: Mapping[str, Any], operation: str
    ) -> Page[M]:
        reply = await self._call("GET", path, params=params, operation=operation)
        body = reply.body if reply.body is not None else []
        if not isinstance(body, list):
            raise InvalidResponseError(
                f"GET {path}: expected a JSON array, got {type(body).__name__}.",
                status_code=reply.status_code,
                operation=operation,
            )
        return Page[model](  # type: ignore[valid-type]  # pydantic generic parametrised at runtime
            items=[self._validate(model, item, f"GET {path}") for item in body],
            total=header_int(reply, "x-total-count"),
            page=params.get("page"),
            per_page=params.get("per_page"),
        )

    @staticmethod
    def _validate(model: type[M], body: Any, where: str) -> M:
        try:
            return model.model_validate(body)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            # Only where the shape broke: pydantic's text quotes the offending (Nexla) values.
            fields = sorted({".".join(map(str, e["loc"])) for e in _errors_of(exc)})[:5]
            raise InvalidResponseError(
                f"{where}: the reply does not have the documented shape ({model.__name__}).",
                original_error=type(exc).__name__,
                details={"fields": fields} if fields else None,
                retryable=False,
            ) from exc


def _errors_of(exc: ValueError) -> list[Any]:
    errors = getattr(exc, "errors", None)
    try:
        return list(errors(include_input=False, include_url=False)) if errors else []
    except TypeError:
        return []
