/**
 * The gateway's Socket.IO contract: event names, payloads and acknowledgements.
 *
 * Mirrors the server's Yellow Box events (subscriptions, rider locations, expenses) and its
 * token-lifetime events (auth_refresh_required, refresh_token, auth_expired).
 */

/** Channels a client may subscribe to; the server's policy decides which roles may. */
export type Channel = "rider_locations" | "expense_updates";

export const CHANNELS: readonly Channel[] = ["rider_locations", "expense_updates"];

/** What a rider sends with `publishLocation`; the rider id comes from the token. */
export interface LocationInput {
  /** Degrees, -90..90. */
  latitude: number;
  /** Degrees, -180..180. */
  longitude: number;
  /** Metres. */
  accuracy?: number;
  /** Metres per second. */
  speed?: number;
  /** Degrees clockwise from north, 0..360. */
  heading?: number;
  /** When the fix was taken: epoch milliseconds or ISO 8601 with a zone. */
  timestamp?: number | string;
}

/** `rider_location_update`: one rider's position as the gateway validated it. */
export interface RiderLocationUpdate {
  riderId: string;
  latitude: number;
  longitude: number;
  accuracy?: number;
  speed?: number;
  heading?: number;
  /** When the gateway received it (ISO 8601, UTC). */
  timestamp: string;
  /** When the rider's device took the fix, if it said (ISO 8601, UTC). */
  recordedAt?: string;
  /** The fields the operator configured in `[riders.extra_fields]` that the fix had. */
  extra?: Record<string, string | number | boolean>;
}

/** `expense_status_change`: the back office's expense update. */
export interface ExpenseStatusChange {
  expenseId: string;
  status: string;
  [field: string]: unknown;
}

/** `gateway_error`: an event sent without an ack was refused. */
export interface GatewayErrorPayload {
  event: string;
  message: string;
}

/** `auth_refresh_required`: the token expired; send a new one within `graceSeconds`. */
export interface AuthRefreshRequired {
  reason: string;
  graceSeconds: number;
}

/** `auth_expired`: no new token arrived in time; the server disconnects next. */
export interface AuthExpired {
  message: string;
}

/** Every acknowledgement the gateway sends is one of these. */
export type Ack<T extends object> = ({ ok: true } & T) | { ok: false; error: string };

export type SubscribeAck = Ack<{ channel: Channel }>;
export type PublishLocationAck = Ack<{ timestamp: string }>;
/** `expiresAt`: the new token's expiry in seconds since the epoch (null: never). */
export type RefreshTokenAck = Ack<{ expiresAt: number | null }>;

/** Events the gateway sends, with their handlers' signatures. */
export interface ServerEvents {
  rider_location_update: (update: RiderLocationUpdate) => void;
  expense_status_change: (update: ExpenseStatusChange) => void;
  gateway_error: (error: GatewayErrorPayload) => void;
  auth_refresh_required: (info: AuthRefreshRequired) => void;
  auth_expired: (info: AuthExpired) => void;
}

/** Events the client sends, with their arguments. */
export interface ClientEvents {
  subscribe_rider_locations: () => void;
  unsubscribe_rider_locations: () => void;
  subscribe_expense_updates: () => void;
  unsubscribe_expense_updates: () => void;
  publish_location: (location: LocationInput) => void;
  refresh_token: (payload: { token: string }) => void;
}
