"""Who uses a credential: every source and destination that names it, across all pages.

Nexla's list views leave out ``data_credentials_id`` (fact sheet §7.2, §9), so each list is
read with ``expand=1`` and the nested ``data_credentials.id`` compared, page after page until a
short page. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nexla_mcp.nexla.client import NexlaClient
from nexla_mcp.nexla.core import check_id

__all__ = ["CredentialUser", "credential_users"]

PER_PAGE = 100


@dataclass(frozen=True)
class CredentialUser:
    """A source or destination that uses the credential, and the flow it belongs to."""

    resource_type: Literal["data_sources", "data_sinks"]
    resource_id: int
    name: str | None
    status: str | None
    flow_id: int | None

    @property
    def key(self) -> str:
        """``data_sources/5101``: how steps and states name the resource."""
        return f"{self.resource_type}/{self.resource_id}"


async def credential_users(
    client: NexlaClient, credential_id: int, *, per_page: int = PER_PAGE
) -> list[CredentialUser]:
    """Every source, then every destination, whose credential is ``credential_id``.

    Raises:
        ValidationError: a bad id (nothing sent).
    """
    check_id(credential_id, "credential_id")
    found: list[CredentialUser] = []
    listings = (("data_sources", client.list_sources), ("data_sinks", client.list_destinations))
    for resource_type, list_page in listings:
        page = 1
        while True:
            batch = await list_page(page=page, per_page=per_page, expand=1)
            found.extend(
                CredentialUser(resource_type, item.id, item.name, item.status, item.origin_node_id)  # type: ignore[arg-type]
                for item in batch.items
                if item.credential_id == credential_id
            )
            if len(batch.items) < per_page:
                break
            page += 1
    return sorted(found, key=lambda user: (user.flow_id or 0, user.resource_type, user.resource_id))
