"""Plan tokens: bound to tool, arguments, state and time; single use; unforgeable."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from nexla_mcp.server.guard import (
    MAX_TTL_S,
    NonceStore,
    PlanGuard,
    PlanRejected,
    canonical_json,
    digest_of,
    token_digest,
)
from nexla_mcp.state.sqlite import SQLiteStore

SECRET = "guard-test-secret-0123456789abcdefghij"
ARGS = {"flow_id": 9001, "all": False}
STATE = digest_of({"nodes": [[9001, "ACTIVE"]]})


class Clock:
    """A clock the test moves by hand (epoch seconds)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reason_of(guard: PlanGuard, token: str | None, tool: str = "pause_flow",
              arguments: dict[str, object] = ARGS) -> str:  # fmt: skip
    with pytest.raises(PlanRejected) as rejected:
        guard.verify(token, tool, arguments)
    return rejected.value.reason


def test_a_minted_token_verifies_for_its_tool_arguments_and_state() -> None:
    """The claims come back exactly as minted, with the expiry at most five minutes out."""
    clock = Clock()
    guard = PlanGuard(SECRET, clock=clock)
    token, expires_at = guard.mint("pause_flow", ARGS, STATE)
    claims = guard.verify(token, "pause_flow", dict(ARGS))
    assert claims.tool == "pause_flow"
    assert claims.state_fingerprint == STATE
    assert claims.arguments_digest == digest_of(ARGS)
    assert expires_at == claims.expires_at == int(clock.now) + MAX_TTL_S


def test_argument_order_does_not_matter_but_values_do() -> None:
    """Arguments are compared in canonical form: reordered keys pass, another value fails."""
    guard = PlanGuard(SECRET)
    token, _ = guard.mint("pause_flow", ARGS, STATE)
    guard.verify(token, "pause_flow", {"all": False, "flow_id": 9001})
    assert reason_of(guard, token, arguments={"flow_id": 9005, "all": False}) == "other_arguments"
    assert reason_of(guard, token, arguments={"flow_id": 9001, "all": True}) == "other_arguments"


def test_a_token_for_another_tool_is_refused() -> None:
    """A pause plan cannot authorise an activation or a deletion with the same arguments."""
    guard = PlanGuard(SECRET)
    token, _ = guard.mint("pause_flow", ARGS, STATE)
    assert reason_of(guard, token, tool="activate_flow") == "other_tool"
    assert reason_of(guard, token, tool="delete_flow") == "other_tool"


def test_a_token_expires_after_its_ttl() -> None:
    """One second before expiry it verifies; at expiry it is refused."""
    clock = Clock()
    guard = PlanGuard(SECRET, clock=clock)
    token, expires_at = guard.mint("pause_flow", ARGS, STATE)
    clock.now = expires_at - 1
    guard.verify(token, "pause_flow", ARGS)
    clock.now = expires_at
    assert reason_of(guard, token) == "expired"


def test_a_token_claiming_a_far_future_expiry_is_refused() -> None:
    """A replica with a longer clock skew or TTL cannot stretch a plan past five minutes."""
    clock = Clock()
    minting = PlanGuard(SECRET, clock=Clock(clock.now + 600))
    token, _ = minting.mint("pause_flow", ARGS, STATE)
    assert reason_of(PlanGuard(SECRET, clock=clock), token) == "expired"


@pytest.mark.anyio
async def test_a_spent_token_is_refused_as_replayed(tmp_path: Path) -> None:
    """After spend, the unused check and a second spend both refuse the token, also through
    another guard (a replica) on the same state store."""
    guard = PlanGuard(SECRET, nonces=NonceStore(SQLiteStore(tmp_path)))
    token, _ = guard.mint("pause_flow", ARGS, STATE)
    await guard.spend(guard.verify(token, "pause_flow", ARGS))
    replica = PlanGuard(SECRET, nonces=NonceStore(SQLiteStore(tmp_path)))
    claims = replica.verify(token, "pause_flow", ARGS)
    for attempt in (guard.check_unused, replica.check_unused, replica.spend):
        with pytest.raises(PlanRejected) as rejected:
            await attempt(claims)
        assert rejected.value.reason == "replayed"


def test_a_token_names_the_principal_who_planned_it() -> None:
    """Minted for user A, it verifies for A only: not for B, nor for a caller with no identity;
    a token minted without a principal is refused to a signed-in caller too."""
    guard = PlanGuard(SECRET)
    token, _ = guard.mint("pause_flow", ARGS, STATE, principal="user-a")
    assert guard.verify(token, "pause_flow", ARGS, "user-a").principal == "user-a"
    with pytest.raises(PlanRejected) as rejected:
        guard.verify(token, "pause_flow", ARGS, "user-b")
    assert rejected.value.reason == "other_principal"
    assert reason_of(guard, token) == "other_principal"
    anonymous, _ = guard.mint("pause_flow", ARGS, STATE)
    with pytest.raises(PlanRejected):
        guard.verify(anonymous, "pause_flow", ARGS, "user-a")


def test_a_token_from_another_secret_is_invalid() -> None:
    """Only a server holding the same secret accepts the token."""
    token, _ = PlanGuard("another-secret-0123456789abcdefghijkl").mint("pause_flow", ARGS, STATE)
    assert reason_of(PlanGuard(SECRET), token) == "invalid"


def test_a_replica_with_the_same_secret_accepts_the_token() -> None:
    """Verification needs nothing but the secret (HTTP replicas scale out statelessly)."""
    token, _ = PlanGuard(SECRET).mint("pause_flow", ARGS, STATE)
    assert PlanGuard(SECRET).verify(token, "pause_flow", ARGS).state_fingerprint == STATE


def _retarget(token: str, **changes: object) -> str:
    payload, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(canonical_json(claims).encode()).rstrip(b"=").decode()
    return f"{forged}.{mac}"


@pytest.mark.parametrize(
    "tampered",
    [
        pytest.param({"tool": "delete_flow"}, id="tool"),
        pytest.param({"args": digest_of({"flow_id": 1, "all": True})}, id="arguments"),
        pytest.param({"exp": 4_000_000_000}, id="expiry"),
        pytest.param({"state": "0" * 64}, id="state"),
    ],
)
def test_an_edited_payload_fails_the_signature(tampered: dict[str, object]) -> None:
    """Changing any claim without the secret is caught by the MAC."""
    guard = PlanGuard(SECRET)
    token, _ = guard.mint("pause_flow", ARGS, STATE)
    assert reason_of(guard, _retarget(token, **tampered)) == "invalid"


@pytest.mark.parametrize(
    "token",
    ["", "approved", "confirm:true", "a.b.c", "x" * 5000, "eyJ0b29sIjoicGF1c2VfZmxvdyJ9.AAAA",
     "\u00e9\u00e9.\u00e9\u00e9"],
    ids=["empty", "word", "self-approval", "three-parts", "huge", "fake-mac", "non-ascii"],
)  # fmt: skip
def test_made_up_tokens_are_refused(token: str) -> None:
    """Guesses and self-approval strings never verify."""
    assert reason_of(PlanGuard(SECRET), token) in ("missing", "invalid")


def test_no_token_is_missing() -> None:
    """A confirm without a token says so."""
    assert reason_of(PlanGuard(SECRET), None) == "missing"


def test_ttl_above_five_minutes_is_rejected_at_construction() -> None:
    """The five-minute cap is not configurable upwards."""
    with pytest.raises(ValueError):
        PlanGuard(SECRET, ttl_s=MAX_TTL_S + 1)


@pytest.mark.anyio
async def test_nonce_store_forgets_nonces_once_their_tokens_expired(tmp_path: Path) -> None:
    """Spent nonces are kept only as long as their token could still verify."""
    store = NonceStore(SQLiteStore(tmp_path))
    assert await store.spend("a", expires_at=100, now=50)
    assert not await store.spend("a", expires_at=100, now=60)
    assert await store.spend("b", expires_at=300, now=200)
    assert not await store.is_spent("a")
    assert await store.is_spent("b")


@pytest.mark.anyio
async def test_of_many_concurrent_spends_exactly_one_wins(tmp_path: Path) -> None:
    """Fifty tasks on two store connections spend one nonce at once: one True, 49 False."""
    import anyio

    stores = [NonceStore(SQLiteStore(tmp_path)) for _ in range(2)]
    results: list[bool] = []

    async def spend(n: int) -> None:
        results.append(await stores[n % 2].spend("once", expires_at=2_000_000_000, now=1.0))

    async with anyio.create_task_group() as group:
        for n in range(50):
            group.start_soon(spend, n)
    assert sorted(results) == [False] * 49 + [True]


def test_token_digest_names_a_token_without_revealing_it() -> None:
    """The audit log's plan digest is stable and shorter than, and unlike, the token."""
    token, _ = PlanGuard(SECRET).mint("pause_flow", ARGS, STATE)
    assert token_digest(token) == token_digest(token)
    assert token_digest(token) not in token and len(token_digest(token)) == 32


def test_the_secret_is_random_per_process_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unset, every Settings in this process shares one random secret; NEXLA_MCP_SECRET wins."""
    from nexla_mcp.settings import Settings

    first, second = Settings(sandbox=True), Settings(sandbox=True)
    assert first.secret.get_secret_value() == second.secret.get_secret_value()
    assert len(first.secret.get_secret_value()) >= 32
    monkeypatch.setenv("NEXLA_MCP_SECRET", SECRET)
    configured = Settings(sandbox=True)
    assert configured.secret.get_secret_value() == SECRET
    assert SECRET not in repr(configured)


def test_a_short_configured_secret_is_rejected() -> None:
    """A guessable key would make tokens forgeable: fewer than 32 characters fails at start."""
    from pydantic import ValidationError

    from nexla_mcp.settings import Settings

    with pytest.raises(ValidationError):
        Settings(sandbox=True, secret="too-short")
