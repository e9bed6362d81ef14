"""Requests shared by every resource collection: generic list/get, create, update, delete,
activate and pause.

Create and delete are writes and are never retried once sent. Updates (``PUT`` with the same
body) are idempotent and retried like reads.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from nexla_mcp.errors import ValidationError
from nexla_mcp.nexla.core import ClientCore, check_id, check_resource_type
from nexla_mcp.nexla.models import Credential, Destination, Nexset, Page, Resource, Source

__all__ = ["COLLECTION_MODELS", "Collection", "CrudMixin"]

R = TypeVar("R", bound=Resource)
Collection = Literal["data_sources", "data_sets", "data_sinks", "data_credentials"]
COLLECTION_MODELS: dict[str, type[Resource]] = {
    "data_sources": Source,
    "data_sets": Nexset,
    "data_sinks": Destination,
    "data_credentials": Credential,
}


class CrudMixin(ClientCore):
    """List and get any resource collection by name, and the shared create/update/delete and
    activate/pause requests the typed methods of ``ResourcesMixin`` are built on.

    Every method raises ``ValidationError`` before sending for a bad id, ``NotFoundError`` for an
    unknown id and ``AuthorizationError`` without access; writes may raise
    ``AmbiguousWriteError`` when the outcome is unknown.
    """

    async def list_resources(
        self,
        resource_type: Collection,
        *,
        page: int | None = None,
        per_page: int | None = None,
        **filters: Any,
    ) -> Page[Any]:
        """``GET /{collection}``: one page (all rows when no paging is given) plus ``total``.

        Raises:
            ValidationError: unknown collection (nothing sent) or a rejected filter (400).
        """
        model = COLLECTION_MODELS[check_resource_type(resource_type, tuple(COLLECTION_MODELS))]
        params = {"page": page, "per_page": per_page, **filters}
        return await self._page(model, f"/{resource_type}", params, f"list_{resource_type}")

    async def get_resource(
        self, resource_type: Collection, resource_id: int, *, expand: bool = False
    ) -> Resource:
        """``GET /{collection}/{id}`` as the collection's model.

        Raises:
            ValidationError: unknown collection or bad id (nothing sent).
            NotFoundError: unknown id.
        """
        model = COLLECTION_MODELS[check_resource_type(resource_type, tuple(COLLECTION_MODELS))]
        return await self._get_one(model, resource_type, resource_id, expand)

    async def _get_one(self, model: type[R], collection: str, resource_id: int, expand: bool) -> R:
        path = f"/{collection}/{check_id(resource_id, 'resource_id')}"
        return await self._model(
            model, "GET", path, params={"expand": expand or None}, operation=f"get_{collection}"
        )

    async def _create(self, model: type[R], collection: str, body: dict[str, Any]) -> R:
        _check_body(body)
        return await self._model(
            model, "POST", f"/{collection}", json_body=body, operation=f"create_{collection}"
        )

    async def _update(
        self, model: type[R], collection: str, resource_id: int, body: dict[str, Any],
        *, force: bool = False,
    ) -> R:  # fmt: skip
        _check_body(body)
        path = f"/{collection}/{check_id(resource_id, 'resource_id')}"
        return await self._model(
            model, "PUT", path, json_body=body, params={"force": 1} if force else None,
            idempotent=True, operation=f"update_{collection}",
        )  # fmt: skip

    async def _delete(self, collection: str, resource_id: int) -> None:
        path = f"/{collection}/{check_id(resource_id, 'resource_id')}"
        await self._call("DELETE", path, operation=f"delete_{collection}")

    async def _set_state(self, model: type[R], collection: str, resource_id: int, action: str) -> R:
        path = f"/{collection}/{check_id(resource_id, 'resource_id')}/{action}"
        return await self._model(model, "PUT", path, operation=f"{action}_{collection}")


def _check_body(body: Any) -> None:
    if not isinstance(body, dict) or not body:
        raise ValidationError(
            "body must be a non-empty JSON object",
            operation="validate_arguments",
            hint="Pass the fields to create or change as a dict.",
        )
