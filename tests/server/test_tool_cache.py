"""The tool list is cached per code, library versions and settings: a start with a cache lists
exactly what a build lists, without building; a damaged or foreign cache is never used."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.text import TextReceiveStream
from mcp import Client
from pydantic import SecretStr

from nexla_mcp.server.app import NexlaMCPServer, build_server
from nexla_mcp.server.testing import MODES
from nexla_mcp.server.tool_cache import PACKAGE_DIR, ToolListCache, cache_key
from nexla_mcp.settings import Settings

pytestmark = pytest.mark.anyio

# Built in the test, once the environment is clean (Settings reads it).
SETTINGS: list[dict[str, Any]] = [
    {},
    {"profile": "all"},
    {"dynamic_toolsets": True},
    {"profile": "operator", "writes": "off"},
]


async def listed(server: NexlaMCPServer, mode: Any = "auto") -> dict[str, Any]:
    """The whole tools/list result as the client received it."""
    async with Client(server, mode=mode) as client:
        result = await client.list_tools()
    return result.model_dump(mode="json", by_alias=True)


def cached_server(settings: Settings, directory: Path, **options: Any) -> NexlaMCPServer:
    cache = ToolListCache.for_settings(settings, directory=directory, **options)
    return build_server(settings, tool_cache=cache)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("options", SETTINGS, ids=lambda o: "-".join(map(str, o.values())))
async def test_a_second_start_lists_the_same_tools_from_the_cache_without_building_them(
    options: dict[str, Any], mode: Any, tmp_path: Path
) -> None:
    settings = Settings(sandbox=True, **options)
    built = await listed(build_server(settings), mode)
    first = cached_server(settings, tmp_path)
    assert await listed(first, mode) == built
    assert first.deferred_toolsets == (), "a list with no cache yet builds every tool"
    assert len(list(tmp_path.glob("tools-*.json"))) == 1

    second = cached_server(settings, tmp_path)
    deferred = second.deferred_toolsets
    assert await listed(second, mode) == built
    assert second.deferred_toolsets == deferred != (), "listed from the cache, nothing built"


async def test_a_tool_listed_from_the_cache_is_built_when_called(tmp_path: Path) -> None:
    settings = Settings(sandbox=True)
    await listed(cached_server(settings, tmp_path))
    server = cached_server(settings, tmp_path)
    async with Client(server) as client:
        before = (await client.list_tools()).model_dump(mode="json", by_alias=True)
        result = await client.call_tool("list_flows", {"limit": 1})
        after = (await client.list_tools()).model_dump(mode="json", by_alias=True)
    assert not result.is_error and (result.structured_content or {})["flows"]
    assert "list_flows" not in server.deferred_tools, "built when called"
    assert "get_flow" in server.deferred_tools, "the rest of its toolset is not"
    assert after == before


async def test_tools_built_before_the_list_leave_it_as_a_start_that_built_none(
    tmp_path: Path,
) -> None:
    settings = Settings(sandbox=True, profile="all")
    from_nothing = await listed(build_server(settings))
    await listed(cached_server(settings, tmp_path))
    uncached, cached = build_server(settings), cached_server(settings, tmp_path)
    for server in (uncached, cached):
        server.build_deferred("metrics")
        server.build_deferred("context")
    assert await listed(cached) == await listed(uncached) == from_nothing
    assert "runbooks" in cached.deferred_toolsets


async def test_a_list_made_after_a_call_is_saved_for_the_next_start(tmp_path: Path) -> None:
    """The SDK's own client calls a tool before it lists the tools: the list it gets then is
    saved all the same, and the next start lists it from the cache, unbuilt."""
    settings = Settings(sandbox=True, profile="all")
    from_nothing = await listed(build_server(settings))
    first = cached_server(settings, tmp_path)
    first.build_deferred_tool("get_run_metrics")
    assert await listed(first) == from_nothing
    assert len(list(tmp_path.glob("tools-*.json"))) == 1
    second = cached_server(settings, tmp_path)
    assert await listed(second) == from_nothing
    assert set(second.deferred_tools) == set(second.toolset_of), "nothing built"


def damage(path: Path, how: str) -> None:
    document = json.loads(path.read_bytes())
    if how == "garbage":
        path.write_bytes(b"\x00\xffnot json at all")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "not an object":
        path.write_text(json.dumps(document["tools"]))
    elif how == "another key":
        path.write_text(json.dumps({**document, "key": "0" * 64}))
    elif how == "a tool that is not a tool":
        path.write_text(json.dumps({**document, "tools": [{"name": 3}, *document["tools"][1:]]}))
    elif how == "a tool twice":
        path.write_text(json.dumps({**document, "tools": document["tools"] * 2}))
    elif how == "a tool missing":
        path.write_text(json.dumps({**document, "tools": document["tools"][1:]}))
    elif how == "a directory":
        path.unlink()
        path.mkdir()
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    ["garbage", "truncated", "not an object", "another key", "a tool that is not a tool",
     "a tool twice", "a tool missing", "a directory"],
)  # fmt: skip
async def test_a_damaged_cache_is_ignored_and_the_tools_are_built(how: str, tmp_path: Path) -> None:
    settings = Settings(sandbox=True)
    built = await listed(build_server(settings))
    await listed(cached_server(settings, tmp_path))
    [path] = tmp_path.glob("tools-*.json")
    damage(path, how)

    server = cached_server(settings, tmp_path)
    assert await listed(server) == built
    assert server.deferred_toolsets == (), "built, not read from the damaged file"
    if how != "a directory":  # a file stands in the way there: nothing is written
        repaired = cached_server(settings, tmp_path)
        assert await listed(repaired) == built and repaired.deferred_toolsets != ()


def test_any_change_to_the_code_gives_another_key(tmp_path: Path) -> None:
    sources = tmp_path / "nexla_mcp"
    shutil.copytree(PACKAGE_DIR, sources, ignore=shutil.ignore_patterns("__pycache__"))
    settings = Settings(sandbox=True)
    original = cache_key(settings, sources)
    assert cache_key(settings, sources) == original, "the same code gives the same key"

    flows = sources / "tools" / "flows.py"
    text = flows.read_text()
    flows.write_text(text.replace('"""', '"""Changed. ', 1))
    changed = cache_key(settings, sources)
    flows.write_text(text)
    assert changed != original and cache_key(settings, sources) == original

    (sources / "tools" / "new_toolset.py").write_text("")
    assert cache_key(settings, sources) != original


def test_other_settings_give_another_key_and_a_secret_is_only_set_or_unset() -> None:
    base = Settings(sandbox=True)
    keys = {
        cache_key(settings)
        for settings in [base, Settings(sandbox=True, profile="all"),
                         Settings(sandbox=True, writes="off"),
                         Settings(sandbox=True, exclude_tools=("get_flow",)),
                         Settings(sandbox=True, dynamic_toolsets=True),
                         Settings(access_token=SecretStr("token"))]
    }  # fmt: skip
    assert len(keys) == 6
    one = Settings(sandbox=True, secret=SecretStr("a" * 40))
    other = Settings(sandbox=True, secret=SecretStr("b" * 40))
    assert cache_key(one) == cache_key(other)


async def test_a_code_change_makes_the_next_start_build_and_never_read_the_old_list(
    tmp_path: Path,
) -> None:
    sources = tmp_path / "nexla_mcp"
    shutil.copytree(PACKAGE_DIR, sources, ignore=shutil.ignore_patterns("__pycache__"))
    settings, cache_dir = Settings(sandbox=True), tmp_path / "cache"
    await listed(cached_server(settings, cache_dir, sources=sources))
    (sources / "tools" / "flows.py").write_text("# a schema change\n", encoding="utf-8")

    server = cached_server(settings, cache_dir, sources=sources)
    assert server.tool_cache is not None and server.tool_cache.load() is None
    await listed(server)
    assert server.deferred_toolsets == ()
    assert len(list(cache_dir.glob("tools-*.json"))) == 2


async def test_the_cache_holds_no_secret(tmp_path: Path) -> None:
    settings = Settings(sandbox=True, secret=SecretStr("s3cret-" * 6), http_token=SecretStr("t0k"))
    await listed(cached_server(settings, tmp_path))
    [path] = tmp_path.glob("tools-*.json")
    assert "s3cret-" not in path.read_text() and "t0k" not in path.read_text()


async def test_an_unwritable_cache_directory_costs_nothing_but_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = Settings(sandbox=True)
    server = cached_server(settings, blocker / "cache")
    assert await listed(server) == await listed(build_server(settings))


async def stdio_tools_list(state_dir: Path) -> tuple[str, str]:
    """The raw tools/list line of a fresh ``python -m nexla_mcp --sandbox``, and whatever
    else it wrote to stdout."""
    environment = {**os.environ, "NEXLA_MCP_STATE_DIR": str(state_dir)}
    command = [sys.executable, "-m", "nexla_mcp", "--sandbox"]
    with anyio.fail_after(60):
        async with await anyio.open_process(command, env=environment) as process:
            assert process.stdin and process.stdout
            lines, buffer = TextReceiveStream(process.stdout), [""]
            initialize = {"protocolVersion": "2025-11-25", "capabilities": {},
                          "clientInfo": {"name": "raw", "version": "0"}}  # fmt: skip
            await process.stdin.send(
                (
                    json.dumps(
                        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize}
                    )
                    + "\n"  # fmt: skip
                    '{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
                    '{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}\n'
                ).encode()
            )
            while buffer[0].count("\n") < 2:
                buffer[0] += await lines.receive()
            await process.stdin.aclose()
            rest = "".join([chunk async for chunk in lines])
    _, tools, after = buffer[0].split("\n", 2)
    return tools, after + rest


async def test_over_stdio_the_cached_list_is_byte_for_byte_the_built_one(tmp_path: Path) -> None:
    built, rest = await stdio_tools_list(tmp_path)
    assert list((tmp_path / "cache").glob("tools-*.json")), "the first start wrote the cache"
    cached, rest_cached = await stdio_tools_list(tmp_path)
    assert json.loads(built)["result"]["tools"]
    assert cached == built
    assert rest.strip() == rest_cached.strip() == "", "nothing but protocol messages on stdout"
