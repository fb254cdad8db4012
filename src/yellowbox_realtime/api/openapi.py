"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written by hand next to the code it describes; the tests check real responses against it
(schemathesis), so it cannot drift from the implementation unnoticed.
"""

from __future__ import annotations

from typing import Any

from .validation import MAX_EVENT_LENGTH, MAX_LIMIT, RESERVED_EVENTS

__all__ = ["openapi_document"]

_CHANNEL = "^[A-Za-z0-9_][A-Za-z0-9_.:@=+-]{0,199}$"
_UID = "^[A-Za-z0-9_.@=+-]{1,128}$"
_ROLE = "^[A-Za-z0-9_-]{1,64}$"
_ID = "^[A-Za-z0-9_-]{1,32}:(0|[1-9][0-9]{0,17})$"  # offsets below 2**63


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _path_param(name: str, pattern: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


_AUTH_ERRORS = {
    "401": _error("No API key, an unknown one, or none configured on the server "
                  "(the message says how to configure one)."),
    "403": _error("The key lacks the scope, or may not use this channel."),
    "429": _error("Too many requests with this key; retry after the Retry-After seconds."),
}

_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Makes retries safe: a publish retried with the same key (from the same "
                   "API key, within 24 hours) is delivered once and answers with the first "
                   "one's id. Reusing a key for a different request is a 409.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}


def _publish_operation(summary: str, operation_id: str, param: dict[str, Any],
                       target: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": operation_id,
            "description": f"Publishes one event to {target}. Socket.IO clients in that room "
                           "receive it as `socket.on(event, data)`; it is numbered and kept "
                           "in the channel's history.",
            "parameters": [param, _IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/PublishRequest"}}},
            },
            "responses": {
                "202": {"description": "Published (or, for a retried Idempotency-Key, "
                                       "published before).",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Published"}}}},
                "400": _error("Invalid path, header or JSON syntax."),
                **_AUTH_ERRORS,
                "409": _error("The Idempotency-Key was used for a different request."),
                "413": _error("The body or the data is too large."),
                "415": _error("The body is not application/json."),
                "422": _error("The body is JSON but not a publishable event: its shape, an "
                              "invalid or reserved event name."),
                "503": _error("The event is for n8n (an outbox route takes it) and the outbox "
                              "cannot take it now (`outbox_full`, `outbox_unavailable`); "
                              "retry with the same Idempotency-Key."),
            },
        },
    }


_OUTBOX_ERRORS = {
    **_AUTH_ERRORS,
    "403": _error("The key lacks the `outbox` scope."),
    "404": _error("The outbox is off (no routes configured), or no such dead letter."),
    "503": _error("The outbox's store cannot be read or written now."),
}


def _outbox_paths() -> dict[str, Any]:
    def json_response(description: str, schema: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{schema}"}}}}

    return {
        "/api/v1/outbox": {"get": {
            "summary": "The outbox's state", "operationId": "outboxStats",
            "description": "Deliveries waiting for n8n and their age, requests in flight, "
                           "dead letters, the last error. Needs the `outbox` scope.",
            "responses": {"200": json_response("The state.", "OutboxStats"),
                          **_OUTBOX_ERRORS},
        }},
        "/api/v1/outbox/dead-letters": {"get": {
            "summary": "Dead letters, newest first", "operationId": "outboxDeadLetters",
            "description": "Deliveries given up on: a permanent answer (4xx other than 408 "
                           "and 429) or an exhausted retry budget.",
            "parameters": [{"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1,
                                       "maximum": MAX_LIMIT, "default": 100}}],
            "responses": {"200": json_response("The dead letters.", "DeadLetters"),
                          "400": _error("Invalid `limit`."), **_OUTBOX_ERRORS},
        }},
        "/api/v1/outbox/dead-letters/{id}/replay": {"post": {
            "summary": "Send a dead letter again", "operationId": "outboxReplay",
            "description": "Queues the dead letter again with a fresh retry budget.",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}],
            "responses": {"202": json_response("Queued.", "Replayed"),
                          "400": _error("Invalid id."), **_OUTBOX_ERRORS},
        }},
    }


_OUTBOX_SCHEMAS: dict[str, Any] = {
    "OutboxStats": {
        "type": "object",
        "required": ["backlog", "oldestAgeS", "inFlight", "deadLetters", "delivered",
                     "dropped", "queued", "lastError", "storeError", "routes"],
        "properties": {
            "backlog": {"type": "integer"},
            "oldestAgeS": {"type": ["number", "null"]},
            "inFlight": {"type": "integer"},
            "deadLetters": {"type": "integer"},
            "delivered": {"type": "integer", "description": "Since the gateway started."},
            "dropped": {"type": "integer",
                        "description": "Socket.IO events that could not be queued."},
            "queued": {"type": "integer", "description": "Waiting for the next batch write."},
            "lastError": {"oneOf": [{"type": "null"}, {
                "type": "object", "required": ["at", "route", "message"],
                "properties": {"at": {"type": "string", "format": "date-time"},
                               "route": {"type": "string"},
                               "message": {"type": "string"}}}]},
            "storeError": {"type": ["string", "null"]},
            "routes": {"type": "array", "items": {"type": "string"}},
        },
    },
    "DeadLetters": {
        "type": "object", "required": ["deadLetters"],
        "properties": {"deadLetters": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "route", "eventId", "attempts", "createdAt", "failedAt",
                         "lastStatus", "lastError", "body"],
            "properties": {
                "id": {"type": "integer"}, "route": {"type": "string"},
                "eventId": {"type": "string"}, "attempts": {"type": "integer"},
                "createdAt": {"type": "string", "format": "date-time"},
                "failedAt": {"type": "string", "format": "date-time"},
                "lastStatus": {"type": ["integer", "null"]},
                "lastError": {"type": "string"},
                "body": {"description": "The JSON body the webhook was sent."},
            }}}},
    },
    "Replayed": {
        "type": "object", "required": ["deadLetter", "delivery"],
        "properties": {"deadLetter": {"type": "integer"}, "delivery": {"type": "integer"}},
    },
}


_SIGNATURE_HEADERS = [
    {"name": "X-Yellowbox-Timestamp", "in": "header", "required": False,
     "description": "Unix seconds when the request was signed; within "
                    "`webhooks.tolerance_s` of the gateway's clock.",
     "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"}},
    {"name": "X-Yellowbox-Signature", "in": "header", "required": False,
     "description": "`v1=<hex>`: HMAC-SHA256, keyed with the source's secret, of "
                    "`<timestamp>.<raw body>`. Several comma-separated values are accepted "
                    "(a sender rotating its secret).",
     "schema": {"type": "string", "maxLength": 1024}},
    {"name": "X-Yellowbox-Secret", "in": "header", "required": False,
     "description": "The secret itself, instead of a signature: only for sources listed in "
                    "`webhooks.shared_secret`.",
     "schema": {"type": "string", "maxLength": 1024}},
]


def _webhook_operation(summary: str, operation_id: str, schema: str,
                       description: str) -> dict[str, Any]:
    return {"post": {
        "summary": summary, "operationId": operation_id, "description": description,
        # Not an API key: the request is signed with the source's webhook secret.
        "security": [],
        "parameters": _SIGNATURE_HEADERS,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{schema}"}}}},
        "responses": {
            "202": {"description": "Accepted: published, or handed to the domain. "
                                   "`duplicate` is true when this id was accepted before "
                                   "(nothing is delivered again; `id` is the first one's).",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/WebhookAccepted"}}}},
            "400": _error("The body is not valid JSON."),
            "401": _error("Unsigned, wrongly signed, or signed too long ago "
                          "(`signature_invalid`)."),
            "409": _error("This very signed request (same timestamp and body) was accepted "
                          "already (`replayed`); sign a retry afresh."),
            "413": _error("The body is over `webhooks.max_body_bytes`, or its data over "
                          "what may be published."),
            "415": _error("The body is not application/json."),
            "422": _error("The body is JSON but not this webhook's schema, or the domain "
                          "refused the change (an unknown status, a negative amount...)."),
            "503": _error("The source has no secret configured (`webhook_not_configured`), "
                          "too many signed requests to remember (`replay_window_full`), or "
                          "the outbox cannot take the event now; retry later."),
        },
    }}


def _webhook_paths() -> dict[str, Any]:
    return {
        "/api/v1/webhooks/n8n": _webhook_operation(
            "An event from n8n", "webhookN8n", "N8nEvent",
            "Publishes `event` with `data` to `channel`, as the publish API does. "
            "`expense_status_change` (on `expense_updates`) and `order_status_change` (on "
            "`orders`) are the domain's changes, validated as `POST /api/v1/expenses` and "
            "`/orders` validate them. Idempotent by `id`."),
        "/api/v1/webhooks/firebase": _webhook_operation(
            "A Firestore change from a Cloud Function", "webhookFirebase", "FirestoreChange",
            "Expenses and orders become the domain's status changes; riders a "
            "`rider_profile_change` on channel `riders`; deletes `expense_deleted`, "
            "`order_deleted`, or a `rider_profile_change` with `change: deleted`. "
            "Idempotent by `id`."),
    }


_EVENT_ID_SCHEMA = {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$",
                    "description": "The event's id: the same on every retry."}

_WEBHOOK_SCHEMAS: dict[str, Any] = {
    "N8nEvent": {
        "type": "object", "required": ["id", "event", "channel", "data"],
        "additionalProperties": False,
        "properties": {
            "id": _EVENT_ID_SCHEMA,
            "event": {"type": "string"},
            "channel": {"type": "string", "pattern": _CHANNEL},
            "data": {"description": "Any JSON value; the listener's argument."},
        },
    },
    "FirestoreChange": {
        "type": "object", "required": ["id", "type", "change", "data", "occurredAt"],
        "additionalProperties": False,
        "properties": {
            "id": _EVENT_ID_SCHEMA,
            "type": {"enum": ["expense", "rider", "order"]},
            "change": {"enum": ["created", "updated", "deleted"]},
            "data": {"type": "object", "required": ["documentId", "document"],
                     "additionalProperties": False,
                     "properties": {"documentId": {"type": "string", "minLength": 1,
                                                   "maxLength": 128},
                                    "document": {"type": "object"}}},
            "occurredAt": {"type": "string", "format": "date-time"},
        },
    },
    "WebhookAccepted": {
        "type": "object", "required": ["id", "duplicate"], "additionalProperties": False,
        "properties": {"id": {"type": "string", "pattern": _ID},
                       "duplicate": {"type": "boolean"}},
    },
}


def openapi_document() -> dict[str, Any]:
    channel = _path_param("channel", _CHANNEL, "A channel name, e.g. `alerts`, `user:42`.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Yellow Box Realtime publish API",
            "version": "1.0.0",
            "description": "Back-office publishing into the real-time gateway, and reads of "
                           "channel history. Authenticate with an API key as "
                           "`Authorization: Bearer <key>` or `X-API-Key: <key>`.",
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": {
            "/api/v1/channels/{channel}/events": _publish_operation(
                "Publish to a channel", "publishToChannel", channel, "the channel"),
            "/api/v1/users/{uid}/events": _publish_operation(
                "Publish to a user", "publishToUser",
                _path_param("uid", _UID, "A user id; the channel is `user:<uid>`."),
                "every connection (tab, device) of the user (channel `user:<uid>`)"),
            "/api/v1/roles/{role}/events": _publish_operation(
                "Publish to a role", "publishToRole",
                _path_param("role", _ROLE, "A role; the channel is `role:<role>`."),
                "every connection of users with the role (channel `role:<role>`)"),
            "/api/v1/channels/{channel}/history": {
                "get": {
                    "summary": "Read a channel's history",
                    "operationId": "readHistory",
                    "description": "Events the channel published after `since` (or all it "
                                   "still keeps), oldest first. `complete: false` means some "
                                   "events after `since` are no longer kept. When `more` is "
                                   "true, read again with `since=<position>`.",
                    "parameters": [
                        channel,
                        {"name": "since", "in": "query", "required": False,
                         "description": "An event id `<epoch>:<offset>`.",
                         "schema": {"type": "string", "pattern": _ID}},
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                    "default": 100}},
                    ],
                    "responses": {
                        "200": {"description": "The entries.",
                                "content": {"application/json": {
                                    "schema": {"$ref": "#/components/schemas/History"}}}},
                        "400": _error("Invalid channel, `since` or `limit`."),
                        **_AUTH_ERRORS,
                    },
                },
            },
            **_outbox_paths(),
            **_webhook_paths(),
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1",
                                          "content": {"application/json": {
                                              "schema": {"type": "object"}}}}},
                },
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {
                "PublishRequest": {
                    "type": "object",
                    "required": ["event", "data"],
                    "additionalProperties": False,
                    "properties": {
                        "event": {"type": "string", "minLength": 1,
                                  "maxLength": MAX_EVENT_LENGTH,
                                  "pattern": f"^[A-Za-z][A-Za-z0-9_.:-]{{0,"
                                             f"{MAX_EVENT_LENGTH - 1}}}$",
                                  "not": {"anyOf": [{"enum": sorted(RESERVED_EVENTS)},
                                                    {"pattern": "^auth_"}]},
                                  "description": "Not one of Socket.IO's or the gateway's own "
                                                 "events (connect, disconnect, error, "
                                                 "gateway_error, auth_* ...)."},
                        "data": {"description": "Any JSON value; the listener's argument."},
                    },
                },
                "Published": {
                    "type": "object",
                    "required": ["id", "channel", "event"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "string", "pattern": _ID},
                        "channel": {"type": "string"},
                        "event": {"type": "string"},
                    },
                },
                "History": {
                    "type": "object",
                    "required": ["entries", "complete", "position", "more"],
                    "additionalProperties": False,
                    "properties": {
                        "entries": {"type": "array",
                                    "items": {"$ref": "#/components/schemas/HistoryEntry"}},
                        "complete": {"type": "boolean"},
                        "position": {"type": "string", "pattern": _ID},
                        "more": {"type": "boolean"},
                    },
                },
                "HistoryEntry": {
                    "type": "object",
                    "required": ["id", "event", "data", "publishedAt"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "string", "pattern": _ID},
                        "event": {"type": "string"},
                        "data": {"description": "The event's argument (a list when it had "
                                                "several; bytes as {\"base64\": ...})."},
                        "publishedAt": {"type": "string", "format": "date-time"},
                    },
                },
                **_OUTBOX_SCHEMAS,
                **_WEBHOOK_SCHEMAS,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"},
                                           "message": {"type": "string"}},
                        },
                    },
                },
            },
        },
    }
