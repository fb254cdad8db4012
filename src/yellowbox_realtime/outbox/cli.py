"""``yellowbox-realtime outbox status | dead-letters | replay ID``, on the SQLite file.

Works whether or not the gateway is running: the file is shared (WAL), and a running
gateway picks up a replayed delivery within ``outbox.poll_interval_s``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..config import Config
from ..errors import GatewayError
from .service import dead_letter_json
from .store import OutboxStore


async def run_outbox_command(args: argparse.Namespace, path: Path, config: Config) -> int:
    store = OutboxStore(path, max_backlog=config.outbox.max_backlog,
                        busy_timeout_ms=config.outbox.busy_timeout_ms)
    try:
        await store.open(create=False)
        if args.outbox_command == "status":
            stats = await store.stats()
            now = time.time()
            print(json.dumps({
                "path": str(path),
                "backlog": stats.backlog,
                "oldestAgeS": None if stats.oldest_created_at is None
                else round(max(0.0, now - stats.oldest_created_at), 3),
                "inFlight": stats.in_flight,
                "deadLetters": stats.dead_letters,
            }))
        elif args.outbox_command == "dead-letters":
            for letter in await store.dead_letters(args.limit):
                print(json.dumps(dead_letter_json(letter)))
        else:
            delivery = await store.replay(args.id, time.time())
            print(json.dumps({"deadLetter": args.id, "delivery": delivery}))
        return 0
    except GatewayError as exc:
        print(f"outbox: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await store.close()
