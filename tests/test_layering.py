"""Imports point down the layers (DESIGN.md section 4)."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "yellowbox_realtime"

# What each layer may not import, by package-relative module prefix or third-party name.
FORBIDDEN = {
    "protocol": {"asyncio", "httptools", "uvloop", "starlette", "httpx", "socket",
                 "yellowbox_realtime.core", "yellowbox_realtime.server",
                 "yellowbox_realtime.auth", "yellowbox_realtime.api"},
    "core": {"httptools", "uvloop", "starlette", "httpx", "socket",
             "yellowbox_realtime.server", "yellowbox_realtime.api", "yellowbox_realtime.auth"},
    "domain": {"httptools", "uvloop", "starlette", "httpx", "socket",
               "yellowbox_realtime.server", "yellowbox_realtime.api"},
    # The client talks to the gateway over the wire only: protocol/, errors, messages.
    "client": {"httptools", "starlette", "yellowbox_realtime.server",
               "yellowbox_realtime.core", "yellowbox_realtime.domain",
               "yellowbox_realtime.auth", "yellowbox_realtime.api", "yellowbox_realtime.app",
               "yellowbox_realtime.events", "yellowbox_realtime.cli"},
    # The simulator is a client application: the client, dev tokens, nothing of the server.
    "simulator": {"httptools", "starlette", "yellowbox_realtime.server",
                  "yellowbox_realtime.core", "yellowbox_realtime.api", "yellowbox_realtime.app",
                  "yellowbox_realtime.events", "yellowbox_realtime.cli"},
    # The outbox is an adapter: it sits on the broker and talks HTTP out (httpx), and knows
    # nothing of the server, the ASGI app or the composition root.
    "outbox": {"httptools", "uvloop", "starlette", "yellowbox_realtime.server",
               "yellowbox_realtime.api", "yellowbox_realtime.app", "yellowbox_realtime.cli"},
    # The MCP endpoint is another door onto the operations: the composition root wires it.
    "assistant": {"yellowbox_realtime.app", "yellowbox_realtime.cli",
                  "yellowbox_realtime.events"},
}
# Only the composition root and the command line read the environment or files.
ENV_READERS = {"app.py", "cli.py"}


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package_parts = ["yellowbox_realtime", *path.relative_to(PACKAGE).parent.parts]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
    return names


def test_imports_point_down_the_layers() -> None:
    offences = []
    for layer, forbidden in FORBIDDEN.items():
        for path in (PACKAGE / layer).rglob("*.py"):
            for name in imported_names(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    offences.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offences == []


def test_only_the_composition_root_reads_the_environment() -> None:
    offences = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in ENV_READERS and path.parent == PACKAGE:
            continue
        text = path.read_text()
        if "os.environ" in text or "getenv(" in text:
            offences.append(str(path.relative_to(PACKAGE)))
    assert offences == []


def test_importing_the_package_does_not_import_the_client() -> None:
    # Servers need no WebSocket client library; the client is exported lazily.
    code = ("import sys, yellowbox_realtime; assert 'websockets' not in sys.modules; "
            "from yellowbox_realtime import Client; assert 'websockets' in sys.modules; "
            "print(Client.__module__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "yellowbox_realtime.client.connection"
