"""Credential probes (fact sheet §10.4): authenticate, browse the storage tree, read a sample.

The HTTP status of a probe equals the probe result's own status, as the real pass-through
does: 200 with `{"status": "ok", ...}` or 403 with `{"status": 403, "message": ...}`.
"""

from __future__ import annotations

import json
from typing import Any

from nexla_mcp.sandbox import connectors, planted
from nexla_mcp.sandbox.model import Credential, Flow
from nexla_mcp.sandbox.samples import records
from nexla_mcp.sandbox.store import Store

ProbeResult = tuple[int, dict[str, Any]]


def _ok(credential: Credential, output: Any) -> ProbeResult:
    return 200, {
        "status": "ok",
        "message": "Ok",
        "connection_type": credential.credentials_type,
        "output": output,
    }


def _expired_message(credential: Credential) -> str:
    kind = connectors.family(credential.credentials_type)
    if kind == connectors.API:
        return (
            "Authentication failed: token expired (upstream answered 401 Unauthorized to a request "
            f"sent with Authorization: Bearer {planted.EXPIRED_JWT})"
        )
    if kind == connectors.FILE:
        return (
            "Authentication failed: token expired (ExpiredToken: The provided token has expired.)"
        )
    return "Authentication failed: token expired (password authentication failed: password expired)"


def _forbidden_message(credential: Credential, action: str) -> str:
    kind = connectors.family(credential.credentials_type)
    bucket = credential.non_secure.get("bucket", credential.name)
    if kind == connectors.FILE:
        return (
            f"Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied): "
            f"not authorized to perform: s3:{action} on resource: arn:aws:s3:::{bucket}"
        )
    if kind == connectors.DATABASE:
        return "permission denied for schema public (SQLSTATE 42501)"
    return "403 Forbidden: the credential is missing a scope required to read this resource"


def authenticate(credential: Credential) -> ProbeResult:
    if credential.health == "expired":
        return 403, {"status": 403, "message": _expired_message(credential)}
    return _ok(credential, {"authenticated": True})


def _flows_using(store: Store, credential: Credential) -> list[tuple[Flow, dict[str, Any], str]]:
    """(flow, config, connector type) for every source and sink that uses the credential."""
    found = [
        (store.flow_of_node(source.node_id), source.config, source.source_type)
        for source in store.sources.values()
        if source.credential_id == credential.id
    ]
    found.extend(
        (store.flow_of_node(sink.node_id), sink.config, sink.sink_type)
        for sink in store.sinks.values()
        if sink.credential_id == credential.id
    )
    return found


def tree(store: Store, credential: Credential, body: dict[str, Any]) -> ProbeResult:
    if credential.health == "expired":
        return authenticate(credential)
    if credential.health == "forbidden":
        return 403, {"status": 403, "message": _forbidden_message(credential, "ListBucket")}
    kind = connectors.family(credential.credentials_type)
    listing: dict[str, Any] = {}
    for _flow, config, _type in _flows_using(store, credential):
        if kind == connectors.FILE:
            path = str(config.get("path", "data/")).strip("/").split("/")
            folder = listing
            for part in path:
                folder = folder.setdefault(part, {})
            suffix = config.get("file_format", "json")
            folder.update({f"2025-03-0{day}.{suffix}": {} for day in (2, 3, 4)})
        elif kind == connectors.DATABASE:
            database = listing.setdefault(str(config.get("database", "default")), {})
            schema = database.setdefault(str(config.get("schema", "public")), {})
            schema[str(config.get("table", "table"))] = {}
        else:
            listing[connectors.location(_type, config)] = {}
    return 200, {
        "status": "ok",
        "message": "Ok",
        "connection_type": credential.credentials_type,
        "output": listing,
        "object": listing,
    }


def sample(store: Store, credential: Credential, body: dict[str, Any]) -> ProbeResult:
    if credential.health == "expired":
        return authenticate(credential)
    if credential.health == "forbidden":
        return 403, {"status": 403, "message": _forbidden_message(credential, "GetObject")}
    users = _flows_using(store, credential)
    domain_name, seed = (users[0][0].domain, users[0][0].seed) if users else ("orders", 0)
    rows = records(domain_name, seed, 5)
    if connectors.family(credential.credentials_type) == connectors.DATABASE:
        response: Any = {"columns": list(rows[0]), "data": rows}
    else:
        response = "\n".join(json.dumps(row) for row in rows)
    return _ok(
        credential, {"contentType": "application/json", "statusCode": 200, "response": response}
    )


def verified_status(result: ProbeResult) -> str:
    """What an async probe stores on the credential: "<status> <message>" (§10.4)."""
    status, body = result
    return f"{status} {body.get('message', '')}".strip()
