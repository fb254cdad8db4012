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
from pathlib import Path
from typing import Any

from .api.keys import hash_key, mint_key
from .app import Gateway, load_dev_secret, outbox_path, state_dir, use_uvloop
from .auth.dev import mint_dev_token
from .config import API_SCOPES, ApiConfig, Config, RidersConfig
from .errors import ConfigError, GatewayError
from .logs import configure as configure_logging

log = logging.getLogger("yellowbox_realtime")

DEFAULT_URL = "http://127.0.0.1:3001"
MCP_TOKEN_ENV = "YELLOWBOX_TOKEN"
# The simulator stays within what a gateway with default settings accepts.
MAX_SIMULATED_RATE = RidersConfig().location_rate_per_s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yellowbox-realtime",
                                     description="Yellow Box real-time gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 3001)")
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--log-level", help="debug, info, warning or error")

    token = commands.add_parser("token", help="mint a development token")
    token.add_argument("--uid", required=True, help="user id (the token's subject)")
    token.add_argument("--role", default="rider",
                       help="rider, admin, operations or finance (default rider)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.add_argument("--config", type=Path, help="TOML configuration file")

    api_key = commands.add_parser("api-key", help="mint a key for the HTTP publish API")
    api_key.add_argument("--name", required=True, help="what the key is for, e.g. n8n")
    api_key.add_argument("--scope", action="append", choices=API_SCOPES,
                         help="publish and/or history; repeat for both (default publish)")
    api_key.add_argument("--channel", action="append",
                         help="a channel, or a prefix ending in ':', the key may use; "
                              "repeat for more (default: every channel)")

    simulate = commands.add_parser(
        "simulate", help="ride simulated riders around Dubai against a gateway")
    simulate.add_argument("--url", default=DEFAULT_URL,
                          help=f"the gateway (default {DEFAULT_URL})")
    simulate.add_argument("--riders", type=_positive_int, default=20,
                          help="how many riders (default 20)")
    simulate.add_argument("--rate", type=_location_rate, default=1.0,
                          help="positions per second per rider (default 1, at most "
                               f"{MAX_SIMULATED_RATE:g}: the gateway's default limit)")
    simulate.add_argument("--seed", type=int, default=1,
                          help="routes and behaviours come from this (default 1)")
    simulate.add_argument("--duration", type=float,
                          help="stop after this many seconds (default: Ctrl-C)")
    simulate.add_argument("--token-secret",
                          help="the gateway's dev secret (default: the one `serve` uses)")
    simulate.add_argument("--quiet", action="store_true", help="no progress line")
    simulate.add_argument("--no-geofences", action="store_true",
                          help="do not put the demo's geofences on the gateway")
    simulate.add_argument("--config", type=Path, help="TOML configuration file")

    mcp = commands.add_parser(
        "mcp", help="an MCP server on stdio for desktop assistants, relayed to a gateway's "
                    "/mcp; the credential comes from YELLOWBOX_TOKEN (an ID token or an API "
                    "key), never the command line")
    mcp.add_argument("--url", default=DEFAULT_URL, help=f"the gateway (default {DEFAULT_URL})")

    outbox = commands.add_parser(
        "outbox", help="look at and act on the outbox's queue (works on its SQLite file)")
    outbox.add_argument("--config", type=Path, help="TOML configuration file")
    outbox.add_argument("--path", type=Path,
                        help="the outbox's SQLite file (default: outbox.path, or "
                             "outbox.sqlite3 in the state directory)")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True)
    outbox_commands.add_parser("status", help="backlog, oldest age, dead letters (JSON)")
    dead = outbox_commands.add_parser("dead-letters",
                                      help="the newest dead letters, one JSON object a line")
    dead.add_argument("--limit", type=_positive_int, default=100)
    replay = outbox_commands.add_parser("replay", help="queue a dead letter again")
    replay.add_argument("id", type=_positive_int, help="the dead letter's id")

    args = parser.parse_args(argv)
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
        from .outbox.cli import run_outbox_command

        return asyncio.run(run_outbox_command(args, args.path or outbox_path(config), config))
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
    secret = _dev_secret(config) if config.auth.provider == "dev" else ""
    loop_name = "uvloop" if use_uvloop() else "asyncio"
    gateway = Gateway(config, dev_secret=secret)
    # Everything loaded so far (modules, classes, the application) lives as long as the
    # process: keep it out of the collector's scans, so a full collection walks only what
    # serving created. Its pauses stall every connection (measured in bench/README.md).
    gc.collect()
    gc.freeze()

    log.info("event loop: %s", loop_name)
    try:
        asyncio.run(gateway.serve_forever())
    except GatewayError as exc:  # e.g. the outbox's file cannot be opened
        print(f"yellowbox-realtime: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
