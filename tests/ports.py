"""Loopback ports for tests that start a server in another process, or need a closed port."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A loopback port that was free a moment ago: bound to port 0, then released.

    For a child process that binds the port itself, or as a port nothing listens on
    (connection refused). A server started in this process binds port 0 itself instead.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
