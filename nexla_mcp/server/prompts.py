"""Runbook prompts: markdown files in ``prompts/``, shipped in the wheel as ``nexla_mcp/prompts``.

Each file is a prompt: a front matter block, then the body the assistant receives::

    ---
    title: Troubleshoot a flow
    description: Find why a Nexla flow fails, ...
    argument flow_id (required): Flow id, as list_flows returns it
    argument symptom (default not stated): What the user noticed
    ---
    Troubleshoot Nexla flow {{flow_id}}. ...

``{{#tool_name}}...{{/tool_name}}`` keeps its text only when the server registered that tool,
``{{^tool_name}}...{{/tool_name}}`` only when it did not: a prompt says what to do with a write
tool where it exists and what to do instead on a read-only server (``--read-only``, ``--writes
off``, or a toolset left out), so no prompt ever instructs a tool the assistant cannot call.
Sections are resolved once, when the server registers its prompts.

``{{name}}`` is replaced by the argument's value (or its default). Arguments named ``*_id``
must be positive integers and those with a numeric default must be numbers, so a prompt
never carries arbitrary text where an id belongs. The prompt name is the file name.

Argument completion: ``flow_id`` and ``credential_id`` (and the ``nexla://flows/{flow_id}``
template) complete from the org's flows and credentials, ``name`` of
``nexla://runbooks/{name}`` from the prompt names.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp import MCPError
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument, UserMessage
from mcp.types import (
    INVALID_PARAMS,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    PromptReference,
)

from nexla_mcp.errors import NexlaError
from nexla_mcp.server.state import ServerState

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.nexla import NexlaClient

__all__ = [
    "PromptArgumentSpec",
    "PromptSpec",
    "complete_argument",
    "load_prompts",
    "parse_prompt",
    "prompt_directory",
    "register_prompts",
    "resolve_sections",
]

logger = logging.getLogger(__name__)

MAX_COMPLETIONS = 100
COMPLETION_SCAN = 500
_ARGUMENT = re.compile(
    r"^argument\s+(?P<name>[a-z_][a-z0-9_]*)\s*(?:\((?P<option>[^)]*)\))?\s*:\s*(?P<text>.+)$"
)
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_SECTION = re.compile(r"\{\{([#^])([a-z_][a-z0-9_]*)\}\}(.*?)\{\{/\2\}\}", re.DOTALL)
_SECTION_TAG = re.compile(r"\{\{[#^/]")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class PromptArgumentSpec:
    """One argument of a prompt file."""

    name: str
    description: str
    required: bool = False
    default: str | None = None

    def check(self, value: str) -> str:
        """The value, or an invalid-params error if it does not fit the argument.

        Raises:
            MCPError: an ``*_id`` that is not a positive integer, or a non-number where the
                default is a number.
        """
        value = value.strip()
        if self.name.endswith("_id") and not (value.isdigit() and int(value) > 0):
            raise MCPError(
                INVALID_PARAMS, f"{self.name} must be a positive integer, got {value!r:.40}"
            )
        if self.default is not None and _NUMBER.match(self.default) and not _NUMBER.match(value):
            raise MCPError(INVALID_PARAMS, f"{self.name} must be a number, got {value!r:.40}")
        return value


@dataclass(frozen=True)
class PromptSpec:
    """A parsed prompt file."""

    name: str
    title: str
    description: str
    arguments: tuple[PromptArgumentSpec, ...]
    body: str

    def for_tools(self, tools: frozenset[str]) -> PromptSpec:
        """This prompt with its tool sections resolved for a server that has ``tools``."""
        return replace(self, body=resolve_sections(self.body, tools))

    def render(self, values: dict[str, Any]) -> str:
        """The body with every placeholder replaced.

        Raises:
            MCPError: an unknown, missing or ill-formed argument.
        """
        known = {argument.name: argument for argument in self.arguments}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise MCPError(
                INVALID_PARAMS, f"unknown argument(s) for {self.name}: {', '.join(unknown)}"
            )
        filled: dict[str, str] = {}
        for argument in self.arguments:
            value = values.get(argument.name)
            if value is None or str(value).strip() == "":
                if argument.required:
                    raise MCPError(INVALID_PARAMS, f"{self.name} needs {argument.name}")
                filled[argument.name] = argument.default or ""
            else:
                filled[argument.name] = argument.check(str(value))
        return _PLACEHOLDER.sub(lambda match: filled[match.group(1)], self.body)


def resolve_sections(body: str, tools: frozenset[str]) -> str:
    """``body`` with each ``{{#tool}}`` section kept where ``tool`` is registered and each
    ``{{^tool}}`` section kept where it is not (sections may nest)."""

    def keep(match: re.Match[str]) -> str:
        return match[3] if (match[2] in tools) == (match[1] == "#") else ""

    previous = None
    while previous != body:
        previous, body = body, _SECTION.sub(keep, body)
    return _BLANK_LINES.sub("\n\n", body)


def parse_prompt(name: str, text: str) -> PromptSpec:
    """Parse one prompt file (format in the module docstring).

    Raises:
        ValueError: no front matter, no title or description, a malformed argument line, or
            a placeholder without a declared argument.
    """
    parts = text.split("---\n", 2)
    if len(parts) != 3 or parts[0].strip():
        raise ValueError(f"prompt {name}: the file must start with a '---' front matter block")
    fields: dict[str, str] = {}
    arguments: list[PromptArgumentSpec] = []
    for line in parts[1].splitlines():
        if not line.strip():
            continue
        if line.startswith("argument "):
            match = _ARGUMENT.match(line.strip())
            if match is None:
                raise ValueError(f"prompt {name}: malformed argument line {line!r}")
            option = (match["option"] or "").strip()
            default = (
                option.removeprefix("default").strip() if option.startswith("default") else None
            )
            arguments.append(PromptArgumentSpec(
                name=match["name"], description=match["text"].strip(),
                required=option == "required", default=default,
            ))  # fmt: skip
        else:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    if not fields.get("title") or not fields.get("description"):
        raise ValueError(f"prompt {name}: title and description are required")
    body = parts[2].strip() + "\n"
    declared = {argument.name for argument in arguments}
    undeclared = set(_PLACEHOLDER.findall(body)) - declared
    if undeclared:
        raise ValueError(f"prompt {name}: undeclared placeholder(s) {sorted(undeclared)}")
    if _SECTION_TAG.search(resolve_sections(body, frozenset())):
        raise ValueError(f"prompt {name}: a {{{{#tool}}}} or {{{{^tool}}}} section is not closed")
    return PromptSpec(name, fields["title"], fields["description"], tuple(arguments), body)


def prompt_directory() -> Traversable:
    """Where the prompt files are: inside the installed package (a wheel puts them at
    ``nexla_mcp/prompts``), else the source checkout's ``prompts/`` (editable installs)."""
    packaged = resources.files("nexla_mcp").joinpath("prompts")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "prompts"


def load_prompts(directory: Traversable | None = None) -> list[PromptSpec]:
    """Every ``*.md`` prompt in ``directory`` (default: ``prompt_directory()``), by name."""
    folder = directory or prompt_directory()
    files = sorted((item for item in folder.iterdir() if item.name.endswith(".md")),
                   key=lambda item: item.name)  # fmt: skip
    return [parse_prompt(item.name.removesuffix(".md"), item.read_text("utf-8")) for item in files]


def _as_prompt(spec: PromptSpec) -> Prompt:
    async def render(**values: Any) -> list[UserMessage]:
        return [UserMessage(spec.render(values))]

    return Prompt(
        name=spec.name, title=spec.title, description=spec.description, fn=render,
        arguments=[PromptArgument(name=a.name, description=a.description, required=a.required)
                   for a in spec.arguments],
    )  # fmt: skip


# --- completion ----------------------------------------------------------------------------------


async def _ids(client: NexlaClient, argument: str) -> tuple[list[int], int | None]:
    """(ids, total) of the org's flows or credentials, newest first, one page."""
    if argument == "credential_id":
        page = await client.list_credentials(page=1, per_page=COMPLETION_SCAN)
        return [item.id for item in page.items], page.total
    flows = await client.list_flows(page=1, per_page=COMPLETION_SCAN, origin_only=1)
    return [node.id for node in flows.flows], flows.total


async def complete_argument(
    client: NexlaClient | None, argument: str, prefix: str, prompt_names: list[str]
) -> Completion:
    """Values for ``argument`` that start with ``prefix``: flow or credential ids, or runbook
    names. An unknown argument, or Nexla failing to answer, completes to nothing."""
    if argument == "name":
        values = [name for name in prompt_names if name.startswith(prefix)]
        return Completion(values=values, total=len(values), has_more=False)
    if client is None or argument not in ("flow_id", "credential_id"):
        return Completion(values=[])
    try:
        ids, total = await _ids(client, argument)
    except NexlaError as error:
        logger.info("completion of %s failed: %r", argument, error)
        return Completion(values=[])
    matches = [str(value) for value in ids if str(value).startswith(prefix.strip())]
    scanned_all = total is None or total <= len(ids)
    return Completion(
        values=matches[:MAX_COMPLETIONS],
        total=len(matches) if scanned_all else None,
        has_more=len(matches) > MAX_COMPLETIONS or not scanned_all,
    )


def _register_completion(server: MCPServer, prompt_names: list[str]) -> None:
    # MCPServer.completion() hands its handler only (ref, argument, context), not the request
    # context that holds the lifespan's Nexla client, so the handler is installed on the
    # low-level server (which is what completion() does, minus the request context).
    async def handle(
        ctx: ServerRequestContext[Any], params: CompleteRequestParams
    ) -> CompleteResult:
        state = ctx.lifespan_context
        client = state.client if isinstance(state, ServerState) else None
        names = prompt_names if not isinstance(params.ref, PromptReference) else []
        completion = await complete_argument(client, params.argument.name, params.argument.value,
                                             names)  # fmt: skip
        return CompleteResult(completion=completion)

    server._lowlevel_server.add_request_handler(
        "completion/complete", CompleteRequestParams, handle
    )


def register_prompts(server: MCPServer, tools: frozenset[str]) -> list[PromptSpec]:
    """Register every prompt file, its sections resolved for ``tools`` (the tools the server
    registered), and argument completion; return the prompts."""
    specs = [spec.for_tools(tools) for spec in load_prompts()]
    for spec in specs:
        server.add_prompt(_as_prompt(spec))
    _register_completion(server, [spec.name for spec in specs])
    return specs
