"""Command line entry point: `nexla-mcp [serve options] | sandbox | demo | audit`.

This is the only module that reads the process environment (through Settings).
"""

from __future__ import annotations

import argparse
import sys


def _sandbox_command(argv: list[str]) -> int:
    from nexla_mcp.sandbox.serve import main as sandbox_main

    return sandbox_main(argv)


SUBCOMMANDS = {"sandbox": _sandbox_command}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        return SUBCOMMANDS[args[0]](args[1:])
    parser = argparse.ArgumentParser(prog="nexla-mcp")
    parser.add_argument("command", nargs="?", choices=sorted(SUBCOMMANDS))
    parser.print_help(sys.stderr)
    return 2
