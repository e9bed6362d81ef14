"""Resource endpoints (§7–§10, §13): sources, nexsets, destinations, credentials, transforms.

Each is a typed wrapper over the requests every collection shares (:mod:`nexla_mcp.nexla.crud`,
which also says which are retried). Resource ``activate``/``pause`` act on that one resource
only and return it; for flow semantics use the flow methods (§19 #13).
"""

from __future__ import annotations

from typing import Any

from nexla_mcp.nexla.core import check_id
from nexla_mcp.nexla.crud import CrudMixin
from nexla_mcp.nexla.models import Credential, Destination, Nexset, Page, Source, Transform

__all__ = ["ResourcesMixin"]


class ResourcesMixin(CrudMixin):
    """Typed CRUD plus resource-level activate/pause, one method per endpoint; errors as in
    ``CrudMixin``."""

    # --- sources ------------------------------------------------------------------------------

    async def list_sources(
        self, *, page: int | None = None, per_page: int | None = None, **filters: Any
    ) -> Page[Source]:
        """``GET /data_sources`` (filters e.g. ``name``, ``status``, ``source_type``).

        Raises:
            ValidationError: a filter Nexla rejects (400).
        """
        params = {"page": page, "per_page": per_page, **filters}
        return await self._page(Source, "/data_sources", params, "list_sources")

    async def get_source(self, source_id: int, *, expand: bool = False) -> Source:
        """``GET /data_sources/{id}``; ``expand`` includes the nested ``data_credentials``.

        Raises:
            NotFoundError: unknown id (ValidationError before sending for a bad id).
        """
        return await self._get_one(Source, "data_sources", source_id, expand)

    async def create_source(self, body: dict[str, Any]) -> Source:
        """``POST /data_sources`` (needs ``name`` and ``source_type``); starts as INIT.

        Raises:
            ValidationError: empty body (nothing sent) or rejected fields (400).
            AmbiguousWriteError: the create may or may not have happened; list before retrying.
        """
        return await self._create(Source, "data_sources", body)

    async def update_source(
        self, source_id: int, body: dict[str, Any], *, force: bool = False
    ) -> Source:
        """``PUT /data_sources/{id}``; 405 when changing the config of an ACTIVE source unless
        ``force`` (Nexla then pauses and re-activates it, §7.1).

        Raises:
            ValidationError: empty body (nothing sent) or rejected fields (400).
            NotFoundError: unknown id.
        """
        return await self._update(Source, "data_sources", source_id, body, force=force)

    async def delete_source(self, source_id: int) -> None:
        """``DELETE /data_sources/{id}``; ``ResourceConflictError`` (405) while ACTIVE.

        Raises:
            ResourceConflictError: 405, still ACTIVE or in use (pause or detach first).
            NotFoundError: unknown id.
        """
        await self._delete("data_sources", source_id)

    async def activate_source(self, source_id: int) -> Source:
        """``PUT /data_sources/{id}/activate`` (this resource only).

        Raises:
            AuthorizationError: needs operator or higher.
            AmbiguousWriteError: the outcome is unknown; re-read before retrying.
        """
        return await self._set_state(Source, "data_sources", source_id, "activate")

    async def pause_source(self, source_id: int) -> Source:
        """``PUT /data_sources/{id}/pause`` (this resource only).

        Raises:
            AuthorizationError: needs operator or higher.
            AmbiguousWriteError: the outcome is unknown; re-read before retrying.
        """
        return await self._set_state(Source, "data_sources", source_id, "pause")

    # --- nexsets ------------------------------------------------------------------------------

    async def list_nexsets(
        self, *, page: int | None = None, per_page: int | None = None, **filters: Any
    ) -> Page[Nexset]:
        """``GET /data_sets`` (filters e.g. ``data_source_id``, ``parent_data_set_id``).

        Raises:
            ValidationError: a filter Nexla rejects (400).
        """
        params = {"page": page, "per_page": per_page, **filters}
        return await self._page(Nexset, "/data_sets", params, "list_nexsets")

    async def get_nexset(self, nexset_id: int, *, expand: bool = False) -> Nexset:
        """``GET /data_sets/{id}``; ``expand`` adds transform and schemas.

        Raises:
            NotFoundError: unknown id (ValidationError before sending for a bad id).
        """
        return await self._get_one(Nexset, "data_sets", nexset_id, expand)

    async def create_nexset(self, body: dict[str, Any]) -> Nexset:
        """``POST /data_sets`` (``name``, ``parent_data_set_id``, ``has_custom_transform``...).

        Raises:
            ValidationError: empty body (nothing sent) or rejected fields (400).
            AmbiguousWriteError: the create may or may not have happened; list before retrying.
        """
        return await self._create(Nexset, "data_sets", body)

    async def update_nexset(self, nexset_id: int, body: dict[str, Any]) -> Nexset:
        """``PUT /data_sets/{id}``.

        Raises:
            ValidationError: empty body (nothing sent) or rejected fields (400).
            NotFoundError: unknown id.
        """
        return await self._update(Nexset, "data_sets", nexset_id, body)

    async def delete_nexset(self, nexset_id: int) -> None:
        """``DELETE /data_sets/{id}``.

        Raises:
            ResourceConflictError: 405, still ACTIVE or in use (pause or detach first).
            NotFoundError: unknown id.
        """
        await self._delete("data_sets", nexset_id)

    async def activate_nexset(self, nexset_id: int) -> Nexset:
        """``PUT /data_sets/{id}/activate`` (no downstream cascade).

        Raises:
            AuthorizationError: needs operator or higher.
            AmbiguousWriteError: the outcome is unknown; re-read before retrying.
        """
        return await self._set_state(Nexset, "data_sets", nexset_id, "activate")

    async def pause_nexset(self, nexset_id: int) -> Nexset:
        """``PUT /data_sets/{id}/pause`` (no downstream cascade).

        Raises:
            AuthorizationError: needs operator or higher.
            AmbiguousWriteError: the outcome is unknown; re-read before retrying.
        """
        return await self._set_state(Nexset, "data_sets", nexset_id, "pause")

    async def get_nexset_samples(
        self, nexset_id: int, *, count: int = 10, include_metadata: bool = False
    ) -> list[dict[str, Any]]:
        """``GET /data_sets/{id}/samples``: cached sample records (shape varies, §8.4).

        Raises:
            ValidationError: bad id or count (nothing sent).
            NotFoundError: unknown nexset.
        """
        check_id(nexset_id, "nexset_id")
        check_id(count, "count")
        body = await self._json(
            "GET",
            f"/data_sets/{nexset_id}/samples",
            params={"count": count, "include_metadata": include_metadata},
            operation="get_nexset_samples",
        )
        return [item for item in body or [] if isinstance(item, dict)]

    # --- destinations ---------------------------------------------------------------------

    async def list_destinations(
        self, *, page: int | None = None, per_page: int | None = None, **filters: Any
    ) -> Page[Destination]:
        """``GET /data_sinks`` (filters e.g. ``sink_type``, ``status``).

        Raises:
            ValidationError: a filter Nexla rejects (400).
        """
        params = {"page": page, "per_page": per_page, **filters}
        return await self._page(Destination, "/data_sinks", params, "list_destinations")

    async def get_destination(self, destination_id: int, *, expand: bool = False) -> Destination:
        """``GET /data_sinks/{id}``.

        Raises:
            NotFoundError: unknown id (ValidationError before sending for a bad id).
        """
        return await self._get_one(Destination, "data_sinks", destination_id, expand)

    async def create_destination(self, body: dict[str, Any]) -> Destination:
        """``POST /data_sinks`` (``name, sink_type, data_credentials_id, data_set_id``).

        Raises:
            ValidationError: empty body (nothing sent) or rejected fields (400).
            AmbiguousWriteError: the create may or may not have happened; list before retrying.
        """
        return await self._create(Destination, "data_sinks", body)

    async def update_destination(self, destination_id: int, body: dict[str, Any]) -> Destination:
        """``PUT /data_sinks/{id}``.

        Raises:
            ValidationError: empty body (nothing sent) or rejected fields (400).
            NotFoundError: unknown id.
        """
        return await self._update(Destination, "data_sinks", destination_id, body)

    async def delete_destination(self, destination_id: int) -> None:
        """``DELETE /data_sinks/{id}``; ``ResourceConflictError`` (405) while ACTIVE.

        Raises:
            ResourceConflictError: 405, still ACTIVE or in use (pause or detach first).
            NotFoundError: unknown id.
        """
        await self._delete("data_sinks", destination_id)

    async def activate_destination(self, destination_id: int) -> Destination:
        """``PUT /data_sinks/{id}/activate``.

        Raises:
            AuthorizationError: needs operator or higher.
            AmbiguousWriteError: the outcome is unknown; re-read before retrying.
        """
        return await self._set_state(Destination, "data_sinks", destination_id, "activate")

    async def pause_destination(self, destination_id: int) -> Destination:
        """``PUT /data_sinks/{id}/pause``.

        Raises:
            AuthorizationError: needs operator or higher.
            AmbiguousWriteError: the outcome is unknown; re-read before retrying.
        """
        return await self._set_state(Destination, "data_sinks", destination_id, "pause")

    # --- credentials ----------------------------------------------------------------------

    async def list_credentials(
        self, *, page: int | None = None, per_page: int | None = None, **filters: Any
    ) -> Page[Credential]:
        """``GET /data_credentials`` (filters e.g. ``credentials_type``, ``validity``).

        Raises:
            ValidationError: a filter Nexla rejects (400).
        """
        params = {"page": page, "per_page": per_page, **filters}
        return await self._page(Credential, "/data_credentials", params, "list_credentials")

    async def get_credential(self, credential_id: int, *, expand: bool = False) -> Credential:
        """``GET /data_credentials/{id}`` (secrets are never returned by Nexla).

        Raises:
            NotFoundError: unknown id (ValidationError before sending for a bad id).
        """
        return await self._get_one(Credential, "data_credentials", credential_id, expand)

    async def create_credential(self, body: dict[str, Any]) -> Credential:
        """``POST /data_credentials`` (``name, credentials_type, credentials``).

        Raises:
            ValidationError: empty body (nothing sent) or rejected fields (400).
            AmbiguousWriteError: the create may or may not have happened; list before retrying.
        """
        return await self._create(Credential, "data_credentials", body)

    async def update_credential(self, credential_id: int, body: dict[str, Any]) -> Credential:
        """``PUT /data_credentials/{id}``; ``credentials`` replaces the whole secret object.

        Raises:
            ValidationError: empty body (nothing sent) or rejected fields (400).
            NotFoundError: unknown id.
        """
        return await self._update(Credential, "data_credentials", credential_id, body)

    async def delete_credential(self, credential_id: int) -> None:
        """``DELETE /data_credentials/{id}``; ``ResourceConflictError`` (405) while in use.

        Raises:
            ResourceConflictError: 405, still ACTIVE or in use (pause or detach first).
            NotFoundError: unknown id.
        """
        await self._delete("data_credentials", credential_id)

    # --- transforms -----------------------------------------------------------------------

    async def list_transforms(
        self, *, page: int | None = None, per_page: int | None = None, **filters: Any
    ) -> Page[Transform]:
        """``GET /transforms`` (reusable ones unless ``reusable=0``/``"all"``).

        Raises:
            ValidationError: a filter Nexla rejects (400).
        """
        params = {"page": page, "per_page": per_page, **filters}
        return await self._page(Transform, "/transforms", params, "list_transforms")

    async def get_transform(self, transform_id: int) -> Transform:
        """``GET /transforms/{id}`` (a code container; it has no status, §19 #18).

        Raises:
            NotFoundError: unknown id (ValidationError before sending for a bad id).
        """
        return await self._get_one(Transform, "transforms", transform_id, False)

    async def update_transform(self, transform_id: int, body: dict[str, Any]) -> Transform:
        """``PUT /transforms/{id}`` (new ``code``, ``code_type``, name or description).

        Raises:
            ValidationError: empty body (nothing sent) or rejected code (400).
            NotFoundError: unknown id.
        """
        return await self._update(Transform, "transforms", transform_id, body)
