"""Launchers: the ways the gate gets a Triton server (local process now; docker, remote later)."""

from gate.servers.interface import ServerHandle
from gate.servers.local import LocalServer

__all__ = ["LocalServer", "ServerHandle"]
