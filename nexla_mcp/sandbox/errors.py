"""The one exception sandbox code raises to answer a request with an error status."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error reply: a bare status (empty body) or a JSON body.

    A `message` becomes `{"status", "message", "error"}` (fact sheet §4.1); `body` is sent as
    given, for the hash-shaped errors such as the 405 listing active resources.
    """

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.headers = headers or {}
        if body is not None:
            self.body: dict[str, Any] | None = body
        elif message is not None:
            self.body = {"status": status, "message": message, "error": message}
        else:
            self.body = None


def not_found() -> ApiError:
    return ApiError(404)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)
