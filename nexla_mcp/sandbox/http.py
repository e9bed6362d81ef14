"""Request parsing and response building shared by every route module."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox.errors import ApiError, bad_request

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

T = TypeVar("T")
Handler = Callable[[Request, "Sandbox"], Awaitable[Response]]

_BASE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_TRUE = {"1", "true", "yes", "on", "t"}
_FALSE = {"0", "false", "no", "off", "f", ""}
# What strptime's "%Y-%m-%d" accepts (month and day unpadded or padded, a day space-padded),
# without strptime's first-use cost: its module import and a locale table.
_DAY = re.compile(r"(\d{4})-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])")
MAX_PER_PAGE = 1000
MAX_ID = 2**53


def iso(ms: int | None) -> str | None:
    """Nexla's timestamp format: ISO-8601 UTC with milliseconds and a Z."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def _headers(extra: dict[str, str] | None) -> dict[str, str]:
    return {**_BASE_HEADERS, "X-Request-Id": uuid.uuid4().hex, **(extra or {})}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(
        body,
        status_code=status,
        headers=_headers(headers),
        media_type="application/json; charset=utf-8",
    )


def empty_response(status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(b"", status_code=status, headers=_headers(headers))


def error_response(error: ApiError) -> Response:
    if error.body is None:
        return empty_response(error.status, error.headers)
    return json_response(error.body, error.status, error.headers)


def path_id(request: Request, name: str = "id") -> int:
    """A numeric id from the path; anything else is an unknown record (404, empty body)."""
    raw = request.path_params.get(name, "")
    if not raw.isdigit() or len(raw) > 16 or int(raw) > MAX_ID:
        raise ApiError(404)
    return int(raw)


class Query:
    """Typed access to query parameters; a malformed value is a 400 with a clear message."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params

    def has(self, name: str) -> bool:
        return name in self.params

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.params.get(name)
        return default if value is None else value

    def integer(
        self, name: str, default: int | None = None, *, minimum: int | None = None
    ) -> int | None:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise bad_request(f"Query parameter '{name}' must be an integer") from None
        if abs(value) > MAX_ID:
            raise bad_request(f"Query parameter '{name}' is out of range")
        if minimum is not None and value < minimum:
            raise bad_request(f"Query parameter '{name}' must be at least {minimum}")
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise bad_request(f"Query parameter '{name}' must be a boolean (1/0, true/false)")

    def choice(self, name: str, options: Sequence[str], default: str | None = None) -> str | None:
        raw = self.params.get(name)
        if raw is None:
            return default
        for option in options:
            if raw.lower() == option.lower():
                return option
        raise bad_request(f"Query parameter '{name}' must be one of: {', '.join(options)}")

    def day(self, name: str, default: str | None = None, *, required: bool = False) -> date | None:
        raw = self.params.get(name, default)
        if raw is None:
            if required:
                raise bad_request(f"Query parameter '{name}' is required (YYYY-MM-DD)")
            return None
        text = raw.strip()
        try:
            if len(text) > 10 and text[10] not in "T ":
                raise ValueError(text)
            match = _DAY.fullmatch(text[:10])
            if match is None:
                raise ValueError(text)
            parsed = date(*map(int, match.groups()))
        except ValueError:
            raise bad_request(f"Query parameter '{name}' must be a date (YYYY-MM-DD)") from None
        if not 1970 <= parsed.year <= 2999:
            raise bad_request(f"Query parameter '{name}' is out of range")
        return parsed

    def epoch_ms(
        self, name: str, default: int | None = None, *, required: bool = False
    ) -> int | None:
        """An epoch instant; values below 1e11 are seconds, larger ones milliseconds (§19 #10)."""
        value = self.integer(name, None)
        if value is None:
            if required:
                raise bad_request(f"Query parameter '{name}' is required")
            return default
        return value if abs(value) >= 100_000_000_000 else value * 1000


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The parsed JSON body; malformed JSON is the server's 400 'Cannot parse JSON request body'.

    Bodies sent with a non-JSON content type (forms, plain text) are not parsed, as in Rails.
    """
    raw = await request.body()
    if not raw.strip():
        if required:
            raise bad_request("Request body is required")
        return None
    content_type = request.headers.get("content-type", "application/json").lower()
    if "json" not in content_type:
        if required:
            raise bad_request("Request body must be JSON (Content-Type: application/json)")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request("Cannot parse JSON request body") from None


async def read_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    body = await read_json(request, required=required)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    return body


def paginate(
    request: Request, items: list[T], *, default_per_page: int | None = None
) -> tuple[list[T], dict[str, str]]:
    """Apply `page`/`per_page` like the Rails API (§3.1) and build its headers."""
    query = Query(request)
    page = query.integer("page")
    per_page = query.integer("per_page")
    if per_page is not None and per_page <= 0:
        raise bad_request("Query parameter 'per_page' must be a positive integer")
    total = len(items)
    headers = {"X-Total-Count": str(total)}
    if page is None and per_page is None and default_per_page is None:
        return items, headers
    page = max(1, page or 1)
    per_page = min(per_page or default_per_page or 10, MAX_PER_PAGE)
    chunk = items[(page - 1) * per_page : page * per_page]
    headers["X-Current-Page"] = str(page)
    headers["X-Page-Count"] = str(len(chunk))
    headers["X-Total-Page-Count"] = str(math.ceil(total / per_page))
    links = []
    if page > 1:
        previous = request.url.include_query_params(page=page - 1, per_page=per_page)
        links.append(f'<{previous}>; rel="Previous"')
    if page * per_page < total:
        links.append(
            f'<{request.url.include_query_params(page=page + 1, per_page=per_page)}>; rel="Next"'
        )
    if links:
        headers["Link"] = ", ".join(links)
    return chunk, headers


def page_window(
    request: Request, *, size_names: tuple[str, ...] = ("size", "per_page"), default_size: int = 100
) -> tuple[int, int]:
    """(page, size) for the metrics and logs endpoints, which page in the body (`meta`)."""
    query = Query(request)
    page = max(1, query.integer("page", 1) or 1)
    size = default_size
    for name in size_names:
        value = query.integer(name)
        if value is not None:
            if value <= 0:
                raise bad_request(f"Query parameter '{name}' must be a positive integer")
            size = min(value, MAX_PER_PAGE)
            break
    return page, size
