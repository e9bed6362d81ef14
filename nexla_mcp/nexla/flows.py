"""Flow endpoints (§6): list, get, activate, pause, delete, run status."""

from __future__ import annotations

from typing import Any, Literal

from nexla_mcp.nexla.core import ClientCore, check_id, check_resource_type, header_int
from nexla_mcp.nexla.models import FlowDocument, FlowNode, FlowsPage, ResourceType
from nexla_mcp.nexla.pagination import PageResult, Paginator
from nexla_mcp.redaction import redact_value

__all__ = ["FlowsMixin"]


class FlowsMixin(ClientCore):
    """Flows by flow-node id or by the resource a node wraps."""

    async def list_flows(
        self,
        *,
        page: int | None = None,
        per_page: int | None = None,
        flows_only: bool = True,
        name: str | None = None,
        status: str | None = None,
        **filters: Any,
    ) -> FlowsPage:
        """``GET /flows``: one page of flows (origin nodes) with ``total`` from X-Total-Count.

        ``flows_only`` (default) omits the side-loaded resources, which is much faster.

        Raises:
            NexlaError: AuthenticationError, AuthorizationError, ResourceConflictError (405 for
                ``org_id`` without super-user rights), ServerError or a network error.
        """
        params = {
            "page": page,
            "per_page": per_page,
            "flows_only": flows_only or None,
            "name": name,
            "status": status,
            **filters,
        }
        reply = await self._call("GET", "/flows", params=params, operation="list_flows")
        document = self._validate(FlowsPage, reply.body or {}, "GET /flows")
        document.total = header_int(reply, "x-total-count")
        document.page_count = header_int(reply, "x-total-page-count")
        document.page, document.per_page = page, per_page
        return document

    def iter_flows(
        self,
        per_page: int = 100,
        max_pages: int = 10,
        max_items: int | None = 500,
        **filters: Any,
    ) -> Paginator[FlowNode]:
        """Iterate origin nodes page by page, stopping at the guards (see ``Paginator``).

        Raises:
            NexlaError: as ``list_flows``, while iterating.
        """

        async def fetch(page: int, size: int) -> PageResult[FlowNode]:
            document = await self.list_flows(page=page, per_page=size, **filters)
            return PageResult(items=document.flows, total=document.total)

        return Paginator(fetch, per_page=per_page, max_pages=max_pages, max_items=max_items)

    async def get_flow(self, flow_id: int, *, flows_only: bool = False) -> FlowDocument:
        """``GET /flows/{flow_id}``: the whole flow (from its origin) that contains this node.

        Raises:
            NotFoundError: unknown flow node id.
            AuthorizationError: no read access.
        """
        check_id(flow_id, "flow_id")
        return await self._model(
            FlowDocument,
            "GET",
            f"/flows/{flow_id}",
            params={"flows_only": flows_only or None},
            operation="get_flow",
        )

    async def get_flow_by_resource(
        self, resource_type: ResourceType, resource_id: int, *, flows_only: bool = False
    ) -> FlowDocument:
        """``GET /{resource_type}/{resource_id}/flow``: the flow a source/nexset/sink belongs to.

        Raises:
            ValidationError: bad resource_type or id (nothing is sent).
            NotFoundError: unknown resource.
            ResourceConflictError: 405, the resource has no flow node.
        """
        path = f"{_resource_path(resource_type, resource_id)}/flow"
        return await self._model(
            FlowDocument,
            "GET",
            path,
            params={"flows_only": flows_only or None},
            operation="get_flow_by_resource",
        )

    async def activate_flow(
        self, flow_id: int, *, all: bool = False, run_now: bool = False
    ) -> FlowDocument:
        """``PUT /flows/{flow_id}/activate``: this node and everything downstream (``all``: the
        whole flow from its origin; ``run_now``: start a run at once, §6.5). Not retried once
        sent.

        Raises:
            AuthorizationError: needs operator or higher.
            ValidationError: 400, e.g. "Flow is rate limited".
            AmbiguousWriteError: the outcome is unknown; re-read the flow before retrying.
        """
        path = f"/flows/{check_id(flow_id, 'flow_id')}"
        return await self._flow_write("activate", path, all, run_now=run_now)

    async def pause_flow(self, flow_id: int, *, all: bool = False) -> FlowDocument:
        """``PUT /flows/{flow_id}/pause``: this node and all downstream (``all``: the whole flow).

        Raises:
            AuthorizationError: needs operator or higher.
            AmbiguousWriteError: the outcome is unknown; re-read the flow before retrying.
        """
        return await self._flow_write("pause", f"/flows/{check_id(flow_id, 'flow_id')}", all)

    async def activate_flow_by_resource(
        self, resource_type: ResourceType, resource_id: int, *, all: bool = False
    ) -> FlowDocument:
        """``PUT /{rt}/{id}/flow/activate``: flow semantics keyed by resource (§19 #13).

        Raises:
            ValidationError: bad resource_type or id (nothing is sent), or a 400.
            AmbiguousWriteError: the outcome is unknown; re-read the flow before retrying.
        """
        path = f"{_resource_path(resource_type, resource_id)}/flow"
        return await self._flow_write("activate", path, all)

    async def pause_flow_by_resource(
        self, resource_type: ResourceType, resource_id: int, *, all: bool = False
    ) -> FlowDocument:
        """``PUT /{rt}/{id}/flow/pause``: flow semantics keyed by resource (§19 #13).

        Raises:
            ValidationError: bad resource_type or id (nothing is sent).
            AmbiguousWriteError: the outcome is unknown; re-read the flow before retrying.
        """
        path = f"{_resource_path(resource_type, resource_id)}/flow"
        return await self._flow_write("pause", path, all)

    async def delete_flow(self, flow_id: int) -> None:
        """``DELETE /flows/{flow_id}``: the node and everything downstream, with their resources.

        Raises:
            ResourceConflictError: 405, something in scope is ACTIVE (the ids are in
                ``response``) or the flow is shared.
            NotFoundError: unknown id.
        """
        await self._call(
            "DELETE", f"/flows/{check_id(flow_id, 'flow_id')}", operation="delete_flow"
        )

    async def delete_flow_by_resource(self, resource_type: ResourceType, resource_id: int) -> None:
        """``DELETE /{rt}/{id}/flow``.

        Raises:
            ResourceConflictError: 405, something in scope is ACTIVE.
            NotFoundError: unknown resource.
        """
        path = f"{_resource_path(resource_type, resource_id)}/flow"
        await self._call("DELETE", path, operation="delete_flow_by_resource")

    async def get_run_status(
        self, flow_id: int, run_id: int | Literal["latest"] = "latest"
    ) -> list[dict[str, Any]]:
        """``GET /flows/{flow_id}/run_status/{run_id}``: one redacted entry per sink (§6.10).

        Raises:
            NotFoundError: unknown flow or run.
            ValidationError: 400, the flow is not rooted in a source.
        """
        check_id(flow_id, "flow_id")
        if run_id != "latest":
            check_id(run_id, "run_id")
        body = await self._json(
            "GET", f"/flows/{flow_id}/run_status/{run_id}", operation="get_run_status"
        )
        entries = [body] if isinstance(body, dict) else body or []
        # Run-status errors quote connector messages, which can carry tokens.
        return [redact_value(entry) for entry in entries if isinstance(entry, dict)]

    async def _flow_write(
        self, action: str, base: str, all_nodes: bool, *, run_now: bool = False
    ) -> FlowDocument:
        return await self._model(
            FlowDocument,
            "PUT",
            f"{base}/{action}",
            params={"all": all_nodes or None, "run_now": run_now or None},
            operation=f"{action}_flow",
        )


def _resource_path(resource_type: str, resource_id: int) -> str:
    check_resource_type(resource_type)
    return f"/{resource_type}/{check_id(resource_id, 'resource_id')}"
