/**
 * Forwards Firestore changes of expenses, riders and orders to the Yellow Box gateway.
 *
 * Each write (create, update, delete) of a document in `expenses`, `riders` or `orders`
 * becomes one signed `POST /api/v1/webhooks/firebase` to the gateway:
 *
 *   {"id": "<Cloud Event id>", "type": "expense" | "rider" | "order",
 *    "change": "created" | "updated" | "deleted",
 *    "data": {"documentId": "<id>", "document": {...fields} },
 *    "occurredAt": "<ISO 8601 time of the write>"}
 *
 * `id` is the Cloud Event's id: unique per change and the same when Eventarc delivers the
 * event again, so the gateway, idempotent by event id, publishes each change once.
 * `document` holds the fields after the write, or before it for a delete.
 *
 * The request is signed as the gateway's own outbound deliveries are: HMAC-SHA256, keyed
 * with the shared secret, over "<timestamp>.<body>", sent as
 * `X-Yellowbox-Timestamp: <Unix seconds>` and `X-Yellowbox-Signature: v1=<hex>`.
 *
 * Failures: the functions are deployed with `retry: true`, so throwing makes Eventarc
 * deliver the event again later (with backoff, for up to seven days). Network errors,
 * timeouts, 408, 429 and 5xx throw; other 4xx answers (a wrong secret, a body the gateway
 * will never accept) are logged and dropped, because retrying them cannot succeed.
 */

import { createHmac } from "node:crypto";

import { DocumentReference, GeoPoint, Timestamp } from "firebase-admin/firestore";
import * as logger from "firebase-functions/logger";
import { defineSecret, defineString } from "firebase-functions/params";
import {
  type Change,
  type DocumentSnapshot,
  type FirestoreEvent,
  onDocumentWritten,
} from "firebase-functions/v2/firestore";

const webhookSecret = defineSecret("YELLOWBOX_WEBHOOK_SECRET");
const gatewayUrl = defineString("YELLOWBOX_GATEWAY_URL", {
  description: "The gateway's base URL, e.g. https://realtime.example.com",
});

type EntityType = "expense" | "rider" | "order";
type ChangeKind = "created" | "updated" | "deleted";
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface ForwardedChange {
  id: string;
  type: EntityType;
  change: ChangeKind;
  data: { documentId: string; document: { [key: string]: Json } };
  occurredAt: string;
}

type WriteEvent = FirestoreEvent<Change<DocumentSnapshot> | undefined, { id: string }>;

// Answers that retrying can turn into a success; every other 4xx is permanent.
const RETRYABLE_STATUSES = new Set([408, 429]);
const REQUEST_TIMEOUT_MS = 10_000;

const triggerOptions = { secrets: [webhookSecret], retry: true, timeoutSeconds: 60 };

export const forwardExpenseChanges = onDocumentWritten(
  { ...triggerOptions, document: "expenses/{id}" },
  (event) => forward("expense", event),
);

export const forwardRiderChanges = onDocumentWritten(
  { ...triggerOptions, document: "riders/{id}" },
  (event) => forward("rider", event),
);

export const forwardOrderChanges = onDocumentWritten(
  { ...triggerOptions, document: "orders/{id}" },
  (event) => forward("order", event),
);

async function forward(type: EntityType, event: WriteEvent): Promise<void> {
  const before = event.data?.before;
  const after = event.data?.after;
  const change: ChangeKind | undefined =
    before?.exists && after?.exists ? "updated"
      : after?.exists ? "created"
        : before?.exists ? "deleted"
          : undefined;
  if (change === undefined) {
    logger.warn("Firestore event without a document before or after", { id: event.id });
    return;
  }
  const snapshot = change === "deleted" ? before : after;
  const payload: ForwardedChange = {
    id: event.id,
    type,
    change,
    data: { documentId: event.params.id, document: fieldsOf(snapshot) },
    occurredAt: new Date(event.time).toISOString(),
  };
  await post(payload);
}

async function post(payload: ForwardedChange): Promise<void> {
  const body = JSON.stringify(payload);
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = createHmac("sha256", webhookSecret.value())
    .update(`${timestamp}.`)
    .update(body)
    .digest("hex");
  const url = new URL("/api/v1/webhooks/firebase", gatewayUrl.value());
  // A network error or the timeout rejects here, and the function is retried.
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Idempotency-Key": payload.id,
      "X-Yellowbox-Timestamp": String(timestamp),
      "X-Yellowbox-Signature": `v1=${signature}`,
    },
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const detail = { id: payload.id, type: payload.type, status: response.status };
  if (response.ok || response.status === 409) {
    // 409: this very request was already accepted; the change is with the gateway.
    return;
  }
  const answer = (await response.text()).slice(0, 500);
  if (response.status >= 500 || RETRYABLE_STATUSES.has(response.status)) {
    throw new Error(`gateway answered ${response.status}, will retry: ${answer}`);
  }
  logger.error("gateway refused a Firestore change; not retrying", { ...detail, answer });
}

function fieldsOf(snapshot: DocumentSnapshot | undefined): { [key: string]: Json } {
  const fields = snapshot?.data() ?? {};
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = toJson(value);
  }
  return out;
}

/** Firestore's own value types as JSON: times as ISO strings, references as paths. */
function toJson(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  // The casts: firebase-admin declares these classes in a way `instanceof` does not narrow.
  if (value instanceof Timestamp) return (value as Timestamp).toDate().toISOString();
  if (value instanceof GeoPoint) {
    const point = value as GeoPoint;
    return { latitude: point.latitude, longitude: point.longitude };
  }
  if (value instanceof DocumentReference) return (value as DocumentReference).path;
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === "object") {
    const out: { [key: string]: Json } = {};
    for (const [key, inner] of Object.entries(value)) out[key] = toJson(inner);
    return out;
  }
  return String(value);
}
