"""The ``yellowbox-realtime`` command."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import tomllib
from collections.abc import Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from .api.keys import hash_key, mint_key
from .app import Gateway, load_dev_secret, outbox_path, state_dir, use_uvloop
from .auth.dev import mint_dev_token
from .config import (
    API_SCOPES,
    ENV_PREFIX,
    LOG_LEVELS,
    ApiConfig,
    Config,
    RidersConfig,
    ServerConfig,
)
from .core.policy import ROLES, Policy
from .errors import ConfigError, GatewayError
from .logs import configure as configure_logging

log = logging.getLogger("yellowbox_realtime")

DEFAULT_URL = "http://127.0.0.1:3001"
MCP_TOKEN_ENV = "YELLOWBOX_TOKEN"
# The simulator stays within what a gateway with default settings accepts.
MAX_SIMULATED_RATE = RidersConfig().location_rate_per_s


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, except where there is none to show (options
    whose default comes from the configuration say so in their own words; flags)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yellowbox-realtime",
                                     description="Yellow Box real-time gateway",
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {package_version('yellowbox-realtime')}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(parent: Any, name: str, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(
            name, help=help, description=help[0].upper() + help[1:] + ".",
            formatter_class=HelpFormatter)
        return sub

    def config_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", type=Path,
                         help="TOML configuration file (default: none, the built-in defaults; "
                              f"{ENV_PREFIX}<SECTION>_<KEY> environment variables apply "
                              "either way)")

    server = ServerConfig()
    serve = command(commands, "serve", "run the gateway")
    serve.add_argument("--host", help=f"address to listen on (default: server.host, "
                                      f"{server.host})")
    serve.add_argument("--port", type=int, help=f"port to listen on (default: server.port, "
                                                f"{server.port})")
    config_option(serve)
    serve.add_argument("--log-level", type=str.lower, choices=LOG_LEVELS,
                       help=f"how much to log (default: server.log_level, {server.log_level})")

    token = command(commands, "token", "mint a development token (the dev provider's)")
    token.add_argument("--uid", required=True, help="user id (the token's subject)")
    token.add_argument("--role", default="rider",
                       help=f"{', '.join(ROLES)}, or another role the [policy] table names")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    config_option(token)

    api_key = command(commands, "api-key", "mint a key for the HTTP API")
    api_key.add_argument("--name", required=True, help="what the key is for, e.g. n8n")
    api_key.add_argument("--scope", action="append", choices=API_SCOPES,
                         help="what the key may do, one of "
                              f"{', '.join(API_SCOPES)}; repeat for more (default: publish)")
    api_key.add_argument("--channel", action="append",
                         help="a channel, or a prefix ending in ':', the key may use; "
                              "repeat for more (default: every channel)")

    simulate = command(commands, "simulate",
                       "ride simulated riders around Dubai against a gateway")
    simulate.add_argument("--url", default=DEFAULT_URL, help="the gateway's URL")
    simulate.add_argument("--riders", type=_positive_int, default=20, help="how many riders")
    simulate.add_argument("--rate", type=_location_rate, default=1.0,
                          help="positions per second per rider, at most "
                               f"{MAX_SIMULATED_RATE:g} (the gateway's default limit)")
    simulate.add_argument("--seed", type=int, default=1,
                          help="routes and behaviours come from this")
    simulate.add_argument("--duration", type=float,
                          help="stop after this many seconds (default: at Ctrl-C)")
    simulate.add_argument("--token-secret",
                          help="the gateway's dev secret (default: auth.dev_secret, or the "
                               "one `serve` generated)")
    simulate.add_argument("--quiet", action="store_true", help="no progress line")
    simulate.add_argument("--no-geofences", action="store_true",
                          help="do not put the demo's geofences on the gateway")
    config_option(simulate)

    mcp = command(commands, "mcp",
                  "an MCP server on stdio for desktop assistants, relayed to a gateway's "
                  f"/mcp; the credential comes from {MCP_TOKEN_ENV} (an ID token or an API "
                  "key), never the command line")
    mcp.add_argument("--url", default=DEFAULT_URL, help="the gateway's URL")

    outbox = command(commands, "outbox",
                     "look at and act on the outbox's queue (works on its SQLite file)")
    config_option(outbox)
    outbox.add_argument("--path", type=Path,
                        help="the outbox's SQLite file (default: outbox.path, or "
                             "outbox.sqlite3 in the state directory)")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True)
    command(outbox_commands, "status", "backlog, oldest age, dead letters (JSON)")
    dead = command(outbox_commands, "dead-letters",
                   "the newest dead letters, one JSON object a line")
    dead.add_argument("--limit", type=_positive_int, default=100,
                      help="at most this many")
    replay = command(outbox_commands, "replay", "queue a dead letter again")
    replay.add_argument("id", type=_positive_int, help="the dead letter's id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "api-key":
        return _api_key(args)
    if args.command == "mcp":
        return _mcp(args)
    try:
        config = load_config(args)
    except ConfigError as exc:
        print(f"configuration error: {exc.message}", file=sys.stderr)
        return 2
    if args.command == "token":
        return _token(config, args)
    if args.command == "simulate":
        return _simulate(config, args)
    if args.command == "outbox":
        return _outbox(config, args)
    return _serve(config)


def load_config(args: argparse.Namespace) -> Config:
    file_data: dict[str, Any] = {}
    if args.config is not None:
        try:
            file_data = tomllib.loads(args.config.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{args.config}: {exc}") from exc
    overrides: dict[str, dict[str, Any]] = {}
    for key in ("host", "port", "log_level"):
        value = getattr(args, key, None)
        if value is not None:
            overrides.setdefault("server", {})[key] = value
    return Config.from_sources(file_data, os.environ, overrides)


def _mcp(args: argparse.Namespace) -> int:
    token = os.environ.get(MCP_TOKEN_ENV, "").strip()
    if not token:
        print(f"set {MCP_TOKEN_ENV} to an ID token or an API key for the gateway",
              file=sys.stderr)
        return 2
    try:
        from .assistant.stdio import relay
    except ImportError as exc:
        print(f"{exc}: pip install 'yellowbox-realtime[mcp]'", file=sys.stderr)
        return 2
    # stdout is the protocol's: every log line goes to stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(relay(args.url.rstrip("/") + "/mcp", {"Authorization": f"Bearer {token}"}))
    return 0


def _dev_secret(config: Config) -> str:
    return config.auth.dev_secret or load_dev_secret(state_dir())


def _token(config: Config, args: argparse.Namespace) -> int:
    if config.auth.provider != "dev":
        print(f"the server uses the {config.auth.provider} provider; dev tokens would be "
              "refused", file=sys.stderr)
        return 2
    roles = Policy.with_overrides(config.policy.subscribe, config.policy.publish).roles()
    if args.role not in roles:
        print(f"token: no such role {args.role!r}; the roles this configuration knows: "
              f"{', '.join(roles)}", file=sys.stderr)
        return 2
    print(mint_dev_token(_dev_secret(config), args.uid, args.role, ttl_s=args.ttl,
                         role_claim=config.auth.role_claim))
    return 0


def _simulate(config: Config, args: argparse.Namespace) -> int:
    from .simulator.cli import simulate

    if config.auth.provider != "dev":
        print(f"the server uses the {config.auth.provider} provider; the simulator's dev "
              "tokens would be refused", file=sys.stderr)
        return 2
    secret = args.token_secret or _dev_secret(config)
    return simulate(args, secret, config.auth.role_claim)


def _outbox(config: Config, args: argparse.Namespace) -> int:
    from .outbox.cli import run_outbox_command

    path = args.path or outbox_path(config)
    if args.path is None and not config.outbox.active and not path.exists():
        # What a default install has: nothing to look at, and no file to say so.
        why = "outbox.enabled is false" if not config.outbox.enabled \
            else "no route in [outbox.urls]"
        print(f"outbox: the outbox is off in this configuration ({why}), so there is no "
              "queue; pass the gateway's --config, or --path for a file", file=sys.stderr)
        return 1
    return asyncio.run(run_outbox_command(args, path, config))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _location_rate(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_SIMULATED_RATE:
        raise argparse.ArgumentTypeError(
            f"must be above 0 and at most {MAX_SIMULATED_RATE:g}: {text}")
    return value


def _api_key(args: argparse.Namespace) -> int:
    """Print a new key once, and the configuration lines that hold only its hash."""
    scopes = list(dict.fromkeys(args.scope or ["publish"]))
    key = mint_key()
    digest = hash_key(key)
    lines = {"keys": json.dumps(digest), "scopes": _toml_list(scopes)}
    if args.channel:
        lines["channels"] = _toml_list(args.channel)
    try:  # the checks the server will make, so a bad name fails here and not at start-up
        ApiConfig(keys={args.name: digest}, scopes={args.name: tuple(scopes)},
                  channels={args.name: tuple(args.channel)} if args.channel else {})
    except ConfigError as exc:
        print(f"api-key: {exc.message}", file=sys.stderr)
        return 2
    print("# The key, shown once (the server keeps only its SHA-256):")
    print(key)
    print("# Add each line under its table in the configuration file:")
    for table, value in lines.items():
        print(f"[api.{table}]")
        print(f"{args.name} = {value}")
    return 0


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def _serve(config: Config) -> int:
    configure_logging(config.server.log_level, config.server.log_format)
    try:
        secret = _dev_secret(config) if config.auth.provider == "dev" else ""
        use_uvloop()
        gateway = Gateway(config, dev_secret=secret)
        # Everything loaded so far (modules, classes, the application) lives as long as the
        # process: keep it out of the collector's scans, so a full collection walks only
        # what serving created. Its pauses stall every connection (measured in
        # bench/README.md).
        gc.collect()
        gc.freeze()
        asyncio.run(gateway.serve_forever())
    except ConfigError as exc:  # e.g. a TLS certificate that cannot be read
        print(f"configuration error: {exc.message}", file=sys.stderr)
        return 2
    except Exception as exc:  # the port is taken, the outbox's file cannot be opened, ...
        # One line, not a traceback: it is a start-up problem to fix, not a bug to
        # report (the traceback is logged at debug level).
        log.debug("start-up failed", exc_info=True)
        print(f"yellowbox-realtime: {_start_failure(exc)}", file=sys.stderr)
        return 1
    return 0


def _start_failure(exc: Exception) -> str:
    if isinstance(exc, GatewayError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot start: {exc.strerror}{f': {exc.filename}' if exc.filename else ''}"
    return f"cannot start: {type(exc).__name__}: {exc}"


if __name__ == "__main__":
    raise SystemExit(main())
