"""Imports point down the layers (DESIGN.md section 4)."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "yellowbox_realtime"

# What each component (a folder, or a module at the top of the package) may import of the
# package itself: the table in docs/architecture.md. A component not listed fails the test,
# so a new one must be placed in the layers first.
FOUNDATIONS = {"errors", "messages", "config", "logs", "signing"}
BELOW_THE_APPLICATION = FOUNDATIONS | {"protocol", "domain", "core", "auth", "brokers",
                                       "server", "outbox"}
EVERYTHING = BELOW_THE_APPLICATION | {"events", "operations", "api", "assistant", "app",
                                     "metrics", "cli", "client", "simulator"}
MAY_IMPORT: dict[str, set[str]] = {
    **{name: FOUNDATIONS | {"domain"} for name in FOUNDATIONS},
    # The codecs, and the frozen types they speak of (a stream position).
    "protocol": {"errors", "messages"},
    "domain": {"errors"},
    "core": FOUNDATIONS | {"protocol"},
    "auth": FOUNDATIONS,
    "brokers": FOUNDATIONS | {"protocol", "core"},
    "server": FOUNDATIONS | {"protocol", "core", "auth"},
    "outbox": FOUNDATIONS | {"protocol", "domain", "core"},
    "operations": FOUNDATIONS | {"protocol", "domain", "core"},
    "events": FOUNDATIONS | {"protocol", "domain", "core", "server", "operations"},
    # The other doors onto the operations: never the Socket.IO events.
    "api": BELOW_THE_APPLICATION | {"operations"},
    "assistant": BELOW_THE_APPLICATION | {"operations", "api"},
    "app": EVERYTHING,
    # What a scrape reads, through a protocol of its own: not the composition root.
    "metrics": EVERYTHING - {"app", "cli"},
    "cli": EVERYTHING,
    "__init__": EVERYTHING,
    "client": {"errors", "protocol"},
    "simulator": {"errors", "domain", "auth", "client"},
}
# Third-party libraries and standard modules a layer may not use: the sans-I/O and pure
# layers none of the I/O, the client and the outbox none of the server's.
FORBIDDEN_LIBRARIES = {
    "protocol": {"asyncio", "httptools", "uvloop", "starlette", "httpx", "socket"},
    "core": {"httptools", "uvloop", "starlette", "httpx", "socket"},
    "domain": {"asyncio", "httptools", "uvloop", "starlette", "httpx", "socket"},
    "client": {"httptools", "starlette"},
    "simulator": {"httptools", "starlette"},
    "outbox": {"httptools", "uvloop", "starlette"},
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


def component(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def test_every_component_has_its_place_in_the_layers() -> None:
    found = {component(path) for path in PACKAGE.rglob("*.py")}
    assert found - set(MAY_IMPORT) == set()
    assert set(MAY_IMPORT) - found == set()  # nothing listed that is gone


def test_imports_point_down_the_layers() -> None:
    offences = []
    for path in PACKAGE.rglob("*.py"):
        layer = component(path)
        allowed = MAY_IMPORT.get(layer, set()) | {layer}
        forbidden = FORBIDDEN_LIBRARIES.get(layer, set())
        for name in imported_names(path):
            parts = name.split(".")
            if parts[0] == "yellowbox_realtime":
                if len(parts) > 1 and parts[1] not in allowed:
                    offences.append(f"{path.relative_to(PACKAGE)} imports {name}")
            elif parts[0] in forbidden:
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
