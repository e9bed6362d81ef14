"""What uses a credential: every source and destination bound to it, found on every page.

Nexla's list views carry no credential id (docs/nexla-api.md §7.2, §9, §19 #16), so the lists
are read with ``expand=1`` and the nested ``data_credentials.id`` is compared here. Every page
is read: a rotation that missed one user on page 3 would leave it on a dead credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.nexla.models import Destination, Source

__all__ = ["CREDENTIAL_USERS", "PAGE_SIZE", "CredentialUser", "credential_users", "uses_credential"]

PAGE_SIZE = 100
CredentialUserType = Literal["data_sources", "data_sinks"]
CREDENTIAL_USERS: tuple[CredentialUserType, ...] = ("data_sources", "data_sinks")


@dataclass(frozen=True)
class CredentialUser:
    """One source or destination that uses the credential."""

    resource_type: CredentialUserType
    resource_id: int
    name: str | None
    status: str | None
    flow_id: int | None


def uses_credential(resource: object, credential_id: int) -> bool:
    """Whether an expanded source or destination is bound to ``credential_id``."""
    return isinstance(resource, Source | Destination) and resource.credential_id == credential_id


async def credential_users(
    client: NexlaClient,
    credential_id: int,
    resource_types: tuple[CredentialUserType, ...] = CREDENTIAL_USERS,
) -> list[CredentialUser]:
    """Every source and destination bound to ``credential_id``, sources first, by id.

    Raises:
        NexlaError: a page could not be read (a partial answer would be a wrong answer).
    """
    found: list[CredentialUser] = []
    for resource_type in resource_types:
        page = 1
        while True:
            result = await client.list_resources(
                resource_type, page=page, per_page=PAGE_SIZE, expand=1
            )
            found += [
                CredentialUser(resource_type, item.id, item.name, item.status, item.origin_node_id)
                for item in result.items
                if uses_credential(item, credential_id)
            ]
            seen = (page - 1) * PAGE_SIZE + len(result.items)
            if len(result.items) < PAGE_SIZE or (result.total is not None and seen >= result.total):
                break
            page += 1
    return sorted(found, key=lambda user: (user.resource_type != "data_sources", user.resource_id))
