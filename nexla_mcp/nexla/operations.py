"""Credential probes (§10.4), async tasks (§14) and accessors (§15)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nexla_mcp.errors import (
    InvalidResponseError,
    NexlaError,
    UpstreamTimeoutError,
    ValidationError,
)
from nexla_mcp.nexla.core import ClientCore, check_id, check_resource_type
from nexla_mcp.nexla.models import Accessor, AsyncTask, AsyncTaskResult, ProbeResult
from nexla_mcp.nexla.transport import ApiResponse

__all__ = ["OperationsMixin"]

ACCESSOR_COLLECTIONS = ("flows", "data_sources", "data_sets", "data_sinks", "data_credentials")
ACCESSOR_TYPES = ("USER", "TEAM", "ORG")
FINISHED_TASK_STATUSES = frozenset({"completed", "failed", "cancelled", "expired"})


_PROBE_SUCCESS_WORDS = frozenset({"ok", "success", "succeeded"})


def _probe_reply_problem(body: Any) -> str | None:
    """Why a 2xx probe reply is not what Nexla sends (an object whose ``status``, when given,
    says success: "ok", "success" or a 2xx code), or None when it is."""
    if not isinstance(body, dict):
        return f"the body is {'empty' if body is None else 'a JSON ' + type(body).__name__}"
    status = body.get("status")
    if status is None:
        return None
    if isinstance(status, str) and status.strip().lower() in _PROBE_SUCCESS_WORDS:
        return None
    code = status if isinstance(status, int) and not isinstance(status, bool) else None
    if isinstance(status, str) and status.strip().isdigit():
        code = int(status.strip())
    if code is not None and 200 <= code < 300:
        return None
    return "its status does not say the probe succeeded"


def _probe_result(reply: ApiResponse, where: str, operation: str) -> ProbeResult:
    """A 2xx probe reply as a ``ProbeResult``; a reply that does not look like one is an
    error, never a pass: a gateway's garbage 200 must not vouch for a credential."""
    problem = _probe_reply_problem(reply.body)
    if problem is not None:
        raise InvalidResponseError(
            f"{where}: Nexla answered HTTP {reply.status_code}, but the reply is not a probe "
            f"result ({problem}), so the probe proves nothing.",
            status_code=reply.status_code, operation=operation,
            details={"problem": problem}, retryable=False,
        )  # fmt: skip
    fields = {k: v for k, v in reply.body.items() if k not in ("ok", "status_code")}
    return ProbeResult.model_validate({**fields, "ok": True, "status_code": reply.status_code})


def _accessor_body(accessors: list[dict[str, Any]]) -> dict[str, Any]:
    """Validate accessor items; a TEAM ``team_id`` (seed spelling) becomes ``id`` (§19 #19)."""
    if not isinstance(accessors, list) or not accessors:
        raise ValidationError(
            "accessors must be a non-empty list of {type, id|email|name, access_roles}",
            operation="validate_arguments",
        )
    cleaned = []
    for item in accessors:
        if not isinstance(item, dict) or item.get("type") not in ACCESSOR_TYPES:
            raise ValidationError(
                f"each accessor needs type ∈ {', '.join(ACCESSOR_TYPES)}; got {item!r}",
                operation="validate_arguments",
            )
        entry = dict(item)
        if entry["type"] == "TEAM" and "team_id" in entry:
            entry.setdefault("id", entry.pop("team_id"))
        cleaned.append(entry)
    return {"accessors": cleaned}


class OperationsMixin(ClientCore):
    """Probing credentials, running async tasks and managing who can access what."""

    _sleep: Callable[[float], Awaitable[Any]]
    _clock: Callable[[], float]

    # --- identity ---------------------------------------------------------------------------

    async def get_current_user(self) -> dict[str, Any]:
        """``GET /users/current``: who the credential acts as, with its org (as Nexla sends it).

        Raises:
            NexlaError: AuthenticationError for a rejected credential, or a network error.
        """
        body = await self._json("GET", "/users/current", operation="get_current_user")
        return body if isinstance(body, dict) else {}

    # --- credential probes ----------------------------------------------------------------

    async def probe_credential(self, credential_id: int) -> ProbeResult:
        """``GET /data_credentials/{id}/probe``: does the external system accept the credential?

        A 2xx probe reply means valid (``ok=True``); its body is passed through.

        Raises:
            CredentialError: 403 on the probe, i.e. the external system refused the credential;
                carries ``status_code`` and the upstream body in ``response`` (§19 #6).
            InvalidResponseError: a 2xx reply that is not a probe result (``details.problem``).
            NotFoundError: unknown credential.
        """
        path = f"/data_credentials/{check_id(credential_id, 'credential_id')}/probe"
        reply = await self._call("GET", path, operation="probe_credential")
        return _probe_result(reply, f"GET {path}", "probe_credential")

    async def probe_credential_tree(
        self, credential_id: int, *, depth: int = 1, path: str | None = None
    ) -> ProbeResult:
        """``POST /data_credentials/{id}/probe/tree``: browse buckets/folders or databases/tables.

        ``output`` holds the tree (read from ``output`` or the SDK's ``object``, §19 #7). A read
        despite the POST, so it is retried like one.

        Raises:
            CredentialError: the external system refused the credential (403).
            ValidationError: bad id or depth (nothing sent), or a rejected path (400).
        """
        check_id(depth, "depth")
        body = {"depth": depth, **({"path": path} if path else {})}
        url = f"/data_credentials/{check_id(credential_id, 'credential_id')}/probe/tree"
        reply = await self._call(
            "POST", url, json_body=body, idempotent=True, operation="probe_credential_tree"
        )
        return _probe_result(reply, f"POST {url}", "probe_credential_tree")

    async def probe_credential_sample(
        self, credential_id: int, *, path: str | None = None
    ) -> ProbeResult:
        """``POST /data_credentials/{id}/probe/sample``: the first records at ``path``.

        Raises:
            CredentialError: the external system refused the credential (403).
            ValidationError: bad id (nothing sent), or a rejected path (400).
        """
        url = f"/data_credentials/{check_id(credential_id, 'credential_id')}/probe/sample"
        reply = await self._call(
            "POST",
            url,
            json_body={"path": path} if path else {},
            idempotent=True,
            operation="probe_credential_sample",
        )
        return _probe_result(reply, f"POST {url}", "probe_credential_sample")

    # --- async tasks ----------------------------------------------------------------------

    async def create_async_task(self, task_type: str, arguments: dict[str, Any]) -> AsyncTask:
        """``POST /async_tasks``; sends both ``type`` and ``task_type`` (§19 #14). Not retried.

        Raises:
            ValidationError: empty task_type (nothing sent) or rejected arguments (400).
            AmbiguousWriteError: the task may or may not have been created.
        """
        if not task_type or not isinstance(arguments, dict):
            raise ValidationError(
                "task_type must be non-empty and arguments a dict", operation="validate_arguments"
            )
        body = {"type": task_type, "task_type": task_type, "arguments": arguments}
        return await self._model(
            AsyncTask, "POST", "/async_tasks", json_body=body, operation="create_async_task"
        )

    async def get_async_task(self, task_id: int) -> AsyncTask:
        """``GET /async_tasks/{id}``.

        Raises:
            NotFoundError: unknown or invisible task.
        """
        path = f"/async_tasks/{check_id(task_id, 'task_id')}"
        return await self._model(AsyncTask, "GET", path, operation="get_async_task")

    async def get_async_task_result(self, task_id: int) -> AsyncTaskResult:
        """``GET /async_tasks/{id}/result``: ``ready=False`` while the server answers 102.

        A wrapped body is unwrapped from ``result`` or ``response`` (§19 #15).

        Raises:
            ValidationError: 400, the task failed or was cancelled (the message says which).
            NotFoundError: unknown task.
        """
        path = f"/async_tasks/{check_id(task_id, 'task_id')}/result"
        reply = await self._call(
            "GET", path, operation="get_async_task_result", ok_statuses=frozenset({102})
        )
        if reply.status_code == 102:
            return AsyncTaskResult(ready=False)
        body = reply.body
        if isinstance(body, dict) and "status" in body and ({"result", "response"} & body.keys()):
            body = body.get("result", body.get("response"))
        return AsyncTaskResult(ready=True, result=body)

    async def wait_for_async_task(
        self, task_id: int, *, timeout: float, poll_interval: float
    ) -> AsyncTask:
        """Poll ``get_async_task`` until it finishes; returns the completed task.

        Raises:
            NexlaError: the task failed or was cancelled (``details`` carries its error).
            UpstreamTimeoutError: still running after ``timeout`` seconds (retryable: wait more).
        """
        if timeout <= 0 or poll_interval <= 0:
            raise ValidationError("timeout and poll_interval must be positive")
        deadline = self._clock() + timeout
        while True:
            task = await self.get_async_task(task_id)
            status = (task.status or "").lower()
            if status == "completed":
                return task
            if status in FINISHED_TASK_STATUSES:
                raise NexlaError(
                    f"Async task {task_id} ended as {status}.",
                    operation="wait_for_async_task",
                    resource_type="async_tasks",
                    resource_id=task_id,
                    details={"status": status, "error": task.error},
                )
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise UpstreamTimeoutError(
                    f"Async task {task_id} is still {status or 'pending'} after {timeout:g} s.",
                    operation="wait_for_async_task",
                    resource_type="async_tasks",
                    resource_id=task_id,
                    details={"status": status, "progress": task.progress},
                    hint="The task is still running; check it again later with get_async_task.",
                )
            await self._sleep(min(poll_interval, remaining))

    # --- accessors ------------------------------------------------------------------------

    async def get_accessors(self, collection: str, resource_id: int) -> list[Accessor]:
        """``GET /{collection}/{id}/accessors``: who has which role.

        Raises:
            ValidationError: unknown collection or bad id (nothing sent).
            NotFoundError: unknown resource.
        """
        body = await self._json(
            "GET", _accessors_path(collection, resource_id), operation="get_accessors"
        )
        return [Accessor.model_validate(item) for item in body or [] if isinstance(item, dict)]

    async def add_accessors(
        self, collection: str, resource_id: int, accessors: list[dict[str, Any]]
    ) -> list[Accessor]:
        """``PUT /{collection}/{id}/accessors``: merge these accessors into the list.

        Raises:
            ValidationError: bad collection, id or accessor items (nothing sent).
            AuthorizationError: needs manage rights.
        """
        return await self._write_accessors("PUT", collection, resource_id, accessors)

    async def replace_accessors(
        self, collection: str, resource_id: int, accessors: list[dict[str, Any]]
    ) -> list[Accessor]:
        """``POST /{collection}/{id}/accessors``: replace the whole list.

        Raises:
            ValidationError: bad collection, id or accessor items (nothing sent).
            AuthorizationError: needs manage rights.
        """
        return await self._write_accessors("POST", collection, resource_id, accessors)

    async def delete_accessors(
        self, collection: str, resource_id: int, accessors: list[dict[str, Any]] | None = None
    ) -> list[Accessor]:
        """``DELETE /{collection}/{id}/accessors``: remove these, or **all** when None.

        Raises:
            ValidationError: bad collection, id or accessor items (nothing sent).
            AuthorizationError: needs manage rights.
        """
        body = None if accessors is None else _accessor_body(accessors)
        return await self._accessor_call("DELETE", collection, resource_id, body)

    async def _write_accessors(
        self, method: str, collection: str, resource_id: int, accessors: list[dict[str, Any]]
    ) -> list[Accessor]:
        return await self._accessor_call(method, collection, resource_id, _accessor_body(accessors))

    async def _accessor_call(
        self, method: str, collection: str, resource_id: int, body: dict[str, Any] | None
    ) -> list[Accessor]:
        # Setting an access list to a given value is idempotent, so these are retried like reads.
        reply = await self._json(
            method,
            _accessors_path(collection, resource_id),
            json_body=body,
            idempotent=True,
            operation=f"{method.lower()}_accessors",
        )
        return [Accessor.model_validate(item) for item in reply or [] if isinstance(item, dict)]


def _accessors_path(collection: str, resource_id: int) -> str:
    check_resource_type(collection, ACCESSOR_COLLECTIONS, "collection")
    return f"/{collection}/{check_id(resource_id, 'resource_id')}/accessors"
