/**
 * The Yellow Box realtime client: socket.io-client with the gateway's rules built in.
 *
 * socket.io-client's own reconnection is switched off and this client reconnects instead,
 * because socket.io-client gives up in exactly the cases that matter here: when the server
 * refuses the token (CONNECT_ERROR) and when the server disconnects the socket (for instance
 * after `auth_expired`). One backoff covers every loss; after a refusal or a server
 * disconnect the next attempt asks for a fresh token (`getToken(true)`). Only `close()`
 * stops it.
 *
 * The same socket.io-client Socket is reused for every connection, so handlers registered
 * with `on()` survive reconnects, and connection-state recovery (`socket.recovered`) works.
 */

import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";

import { backoffDelay, type BackoffOptions, DEFAULT_BACKOFF, validateBackoff } from "./backoff.js";
import { RealtimeError } from "./errors.js";
import {
  CHANNELS,
  type Channel,
  type LocationInput,
  type PublishLocationAck,
  type RefreshTokenAck,
  type ServerEvents,
  type SubscribeAck,
} from "./events.js";
import { tokenExpiry } from "./jwt.js";
import { Listeners } from "./listeners.js";
import { Subscriptions } from "./subscriptions.js";

export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "disconnected";

export interface StatusDetail {
  /** While reconnecting: which retry this is, from 1. */
  attempt?: number;
  /** While reconnecting: milliseconds until the attempt. */
  delayMs?: number;
  /** Why the connection was lost, refused or closed. */
  reason?: string;
}

export interface RealtimeClientOptions {
  /** The gateway, e.g. `https://realtime.example.com` (a path selects a namespace). */
  url: string;
  /**
   * Returns an ID token; `forceRefresh` asks for a new one rather than a cached one (the
   * shape of Firebase's `user.getIdToken`).
   */
  getToken: (forceRefresh: boolean) => Promise<string>;
  /** Default `["websocket", "polling"]`, as the web app uses. */
  transports?: Array<"websocket" | "polling">;
  /** Reconnect backoff; defaults 1 s doubling up to 30 s, 50 % jitter. */
  reconnect?: Partial<BackoffOptions>;
  /** Send a new token this long before the current one expires. Default 60000 ms. */
  refreshMarginMs?: number;
  /** Refresh before expiry (default true); `auth_refresh_required` is answered either way. */
  proactiveRefresh?: boolean;
  /** How long to wait for the gateway's acknowledgements. Default 10000 ms. */
  ackTimeoutMs?: number;
  /** Connect when created (default true); otherwise call `connect()`. */
  autoConnect?: boolean;
  /**
   * Passed on to socket.io-client (`path`, `extraHeaders`, ...). `auth`, `autoConnect`,
   * `forceNew` and `reconnection` are this client's and are overridden.
   */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

/** Handlers by event name; an app adds the events the back office sends it. */
export type HandlerMap<T> = { [K in keyof T]: (...args: never[]) => void };

const DEFAULT_REFRESH_MARGIN_MS = 60_000;
const DEFAULT_ACK_TIMEOUT_MS = 10_000;
// setTimeout fires at once for delays beyond a signed 32-bit millisecond count.
const MAX_TIMER_MS = 2 ** 31 - 1;

type Timer = ReturnType<typeof setTimeout>;

export class RealtimeClient<Extra extends HandlerMap<Extra> = Record<never, never>> {
  /** The underlying socket.io-client socket, for what this client does not cover. */
  readonly socket: Socket;

  private readonly getToken: (forceRefresh: boolean) => Promise<string>;
  private readonly backoff: BackoffOptions;
  private readonly refreshMarginMs: number;
  private readonly proactiveRefresh: boolean;
  private readonly ackTimeoutMs: number;

  private statusValue: ConnectionStatus = "disconnected";
  private started = false;
  private closed = false;
  private attempt = 0;
  private reconnectTimer: Timer | undefined;
  /** The next CONNECT must carry a new token: the last one was refused or revoked. */
  private forceToken = false;
  /** Identifies the getToken call of the current connection attempt. */
  private tokenRequest = 0;
  /** The token the current connection was authenticated with (or last refreshed to). */
  private token: string | undefined;
  /** Counts connections, so late answers from an earlier one are recognised. */
  private generation = 0;

  private refreshTimer: Timer | undefined;
  private refreshAttempt = 0;
  private refreshing: Promise<void> | undefined;

  private readonly subscriptions = new Subscriptions();
  private readonly statusListeners = new Listeners<[ConnectionStatus, StatusDetail]>();
  private readonly errorListeners = new Listeners<[RealtimeError]>();
  private readonly subscribedListeners = new Listeners<[Channel]>();
  private readonly refreshedListeners = new Listeners<[number | null]>();

  constructor(options: RealtimeClientOptions) {
    if (typeof options.getToken !== "function") {
      throw new TypeError("getToken must be a function returning a Promise of an ID token");
    }
    this.getToken = options.getToken;
    this.backoff = validateBackoff({ ...DEFAULT_BACKOFF, ...options.reconnect });
    this.refreshMarginMs = options.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
    this.proactiveRefresh = options.proactiveRefresh ?? true;
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    if (!(this.refreshMarginMs >= 0)) throw new RangeError("refreshMarginMs must be >= 0");
    if (!(this.ackTimeoutMs > 0)) throw new RangeError("ackTimeoutMs must be > 0");

    this.socket = io(options.url, {
      ...options.socketOptions,
      transports: options.transports ?? ["websocket", "polling"],
      // A Manager of its own: two clients for one URL must not share reconnect decisions.
      forceNew: true,
      autoConnect: false,
      reconnection: false,
      // Called on every CONNECT, so each (re)connection carries a current token.
      auth: (send: (data: object) => void) => this.provideAuth(send),
    });
    this.socket.on("connect", () => this.onConnect());
    this.socket.on("connect_error", (error: Error) => this.onConnectError(error));
    this.socket.on("disconnect", (reason: string) => this.onDisconnect(reason));
    this.socket.on("auth_refresh_required", () => {
      this.refresh().catch(() => undefined); // reported through onError
    });
    if (options.autoConnect ?? true) this.connect();
  }

  // -- state ----------------------------------------------------------------------------

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** The Socket.IO id of the current connection. */
  get id(): string | undefined {
    return this.socket.id;
  }

  /** Channels the app asked for (confirmed or not yet). */
  get channels(): Channel[] {
    return this.subscriptions.channels;
  }

  // -- lifecycle ------------------------------------------------------------------------

  /** Start connecting (only needed with `autoConnect: false`). */
  connect(): void {
    if (this.closed) throw new RealtimeError("closed", "this client was closed");
    if (this.started) return;
    this.started = true;
    this.setStatus("connecting", {});
    this.socket.connect();
  }

  /** Disconnect for good: no more reconnects; pending subscribe() calls fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tokenRequest += 1;
    this.clearReconnect();
    this.clearRefresh();
    this.subscriptions.clear(new RealtimeError("closed", "the client was closed"));
    this.socket.disconnect();
    this.setStatus("disconnected", { reason: "closed" });
  }

  // -- listeners ------------------------------------------------------------------------

  /** Listen to a gateway event; returns a function that removes the handler. */
  on<K extends keyof (ServerEvents & Extra) & string>(
    event: K,
    handler: (ServerEvents & Extra)[K],
  ): () => void {
    // The socket is untyped inside; the map above is what callers see.
    const name: string = event;
    const listener = handler as unknown as (...args: unknown[]) => void;
    this.socket.on(name, listener);
    return () => {
      this.socket.off(name, listener);
    };
  }

  /** Connection status changes, for the UI. Returns a function that removes the listener. */
  onStatus(listener: (status: ConnectionStatus, detail: StatusDetail) => void): () => void {
    return this.statusListeners.add(listener);
  }

  /**
   * Failures nobody awaits: refused connections, failed token refreshes, re-subscriptions
   * the server refused. The client carries on (retrying where that makes sense).
   */
  onError(listener: (error: RealtimeError) => void): () => void {
    return this.errorListeners.add(listener);
  }

  /** The server confirmed a subscription (first time and after each fresh connection). */
  onSubscribed(listener: (channel: Channel) => void): () => void {
    return this.subscribedListeners.add(listener);
  }

  /** The gateway accepted a new token; `expiresAt` in seconds since the epoch, or null. */
  onTokenRefreshed(listener: (expiresAt: number | null) => void): () => void {
    return this.refreshedListeners.add(listener);
  }

  // -- subscriptions --------------------------------------------------------------------

  /**
   * Follow a channel. Resolves when the server confirms (waiting for the connection if
   * there is none), rejects with the server's reason. The channel is remembered and
   * subscribed again after every reconnection the server did not recover.
   */
  subscribe(channel: Channel): Promise<void> {
    if (this.closed) return Promise.reject(new RealtimeError("closed", "the client was closed"));
    if (!CHANNELS.includes(channel)) {
      return Promise.reject(new RangeError(`unknown channel ${JSON.stringify(channel)}`));
    }
    const confirmed = this.subscriptions.add(channel);
    if (this.socket.connected) this.sendSubscribe(channel);
    return confirmed;
  }

  /** Stop following a channel. */
  async unsubscribe(channel: Channel): Promise<void> {
    const cancelled = new RealtimeError("closed", `unsubscribed from ${channel}`);
    if (!this.subscriptions.remove(channel, cancelled, this.socket.connected)) return;
    if (!this.socket.connected) return; // a fresh connection starts with no channels
    const ack = await this.emitWithAck<SubscribeAck>(`unsubscribe_${channel}`);
    if (!ack.ok) throw new RealtimeError("refused", ack.error);
  }

  // -- riders ---------------------------------------------------------------------------

  /**
   * Send the rider's position. Resolves with the gateway's ack; rejects with its reason
   * (validation, rate limit, role), or at once when not connected: a position is only
   * worth sending now, so the caller decides whether to keep it.
   */
  async publishLocation(location: LocationInput): Promise<Extract<PublishLocationAck, { ok: true }>> {
    if (this.closed) throw new RealtimeError("closed", "the client was closed");
    if (!this.socket.connected) {
      throw new RealtimeError("disconnected", "not connected: the location was not sent");
    }
    const ack = await this.emitWithAck<PublishLocationAck>("publish_location", location);
    if (!ack.ok) throw new RealtimeError("refused", ack.error);
    return ack;
  }

  // -- tokens ---------------------------------------------------------------------------

  /**
   * Send the gateway a new token now (after a role change, say). Refreshes also happen
   * on their own before the token expires and when the gateway asks.
   */
  refreshToken(): Promise<void> {
    if (this.closed) return Promise.reject(new RealtimeError("closed", "the client was closed"));
    if (!this.socket.connected) {
      return Promise.reject(new RealtimeError("disconnected", "not connected"));
    }
    return this.refresh();
  }

  private provideAuth(send: (data: object) => void): void {
    const request = ++this.tokenRequest;
    const force = this.forceToken;
    this.getToken(force).then(
      (token) => {
        if (this.closed || request !== this.tokenRequest) return;
        this.token = token;
        send({ token });
      },
      (cause: unknown) => {
        if (this.closed || request !== this.tokenRequest) return;
        this.report(new RealtimeError("token", `getToken(${force}) failed: ${describe(cause)}`,
                                      { cause }));
        // Without a token there is no CONNECT to send: end this attempt, retry later.
        this.socket.disconnect();
        this.scheduleReconnect("no token");
      },
    );
  }

  private refresh(): Promise<void> {
    if (this.refreshing === undefined) {
      this.refreshing = this.runRefresh().finally(() => {
        this.refreshing = undefined;
      });
    }
    return this.refreshing;
  }

  private async runRefresh(): Promise<void> {
    const generation = this.generation;
    const current = () => !this.closed && this.socket.connected && generation === this.generation;
    this.clearRefresh();
    try {
      let token: string;
      try {
        token = await this.getToken(true);
      } catch (cause) {
        throw new RealtimeError("token", `getToken(true) failed: ${describe(cause)}`, { cause });
      }
      // A new connection authenticates with a token of its own.
      if (!current()) return;
      const ack = await this.emitWithAck<RefreshTokenAck>("refresh_token", { token });
      if (!ack.ok) throw new RealtimeError("refused", `refresh_token: ${ack.error}`);
      if (!current()) return;
      this.token = token;
      const expiresAt = typeof ack.expiresAt === "number" ? ack.expiresAt : null;
      this.refreshedListeners.emit(expiresAt);
      if (expiresAt !== null && this.refreshDelay(expiresAt) <= 0) {
        // The provider handed out a token already inside the margin; asking again at
        // once would spin.
        this.retryRefresh();
      } else {
        this.refreshAttempt = 0;
        this.scheduleRefresh(expiresAt);
      }
    } catch (error) {
      if (!current()) return; // lost with the connection; the next one starts afresh
      this.report(asRealtimeError(error));
      this.retryRefresh();
      throw error;
    }
  }

  private refreshDelay(expiresAt: number): number {
    return expiresAt * 1000 - this.refreshMarginMs - Date.now();
  }

  private scheduleRefresh(expiresAt: number | null | undefined): void {
    this.clearRefresh();
    if (!this.proactiveRefresh || expiresAt === null || expiresAt === undefined) return;
    const delay = this.refreshDelay(expiresAt);
    if (delay > MAX_TIMER_MS) {
      this.refreshTimer = setTimeout(() => this.scheduleRefresh(expiresAt), MAX_TIMER_MS);
      return;
    }
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh().catch(() => undefined); // reported through onError
    }, Math.max(0, delay));
  }

  private retryRefresh(): void {
    this.clearRefresh();
    const delay = backoffDelay(this.refreshAttempt, this.backoff);
    this.refreshAttempt += 1;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh().catch(() => undefined);
    }, delay);
  }

  private clearRefresh(): void {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  // -- connection events ----------------------------------------------------------------

  private onConnect(): void {
    this.generation += 1;
    this.attempt = 0;
    this.refreshAttempt = 0;
    this.forceToken = false;
    this.clearReconnect();
    this.setStatus("connected", {});
    // Without recovery the server starts the socket with no channels; with it, it kept
    // them, and only what was asked for (or dropped) meanwhile needs sending.
    const recovered = this.socket.recovered;
    for (const channel of this.subscriptions.takeDropped(recovered)) {
      this.emitWithAck<SubscribeAck>(`unsubscribe_${channel}`).catch(() => undefined);
    }
    for (const channel of this.subscriptions.toSend(recovered)) this.sendSubscribe(channel);
    this.scheduleRefresh(this.token === undefined ? undefined : tokenExpiry(this.token));
  }

  private onConnectError(error: Error): void {
    if (this.closed) return;
    // socket.io-client deactivates the socket when the server refused it (CONNECT_ERROR);
    // a transport failure leaves it active.
    const refused = !this.socket.active;
    if (refused) this.forceToken = true;
    this.report(new RealtimeError(refused ? "refused" : "transport", error.message,
                                  { cause: error }));
    this.scheduleReconnect(error.message);
  }

  private onDisconnect(reason: string): void {
    this.clearRefresh();
    if (this.closed) return;
    if (reason === "io client disconnect") {
      // Someone called socket.disconnect() directly: respect it.
      this.setStatus("disconnected", { reason });
      return;
    }
    // The server ended the socket on purpose (an expired or revoked token, a kick): the
    // token it had is not worth offering again.
    if (reason === "io server disconnect") this.forceToken = true;
    this.scheduleReconnect(reason);
  }

  private scheduleReconnect(reason: string): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const delayMs = backoffDelay(this.attempt, this.backoff);
    this.attempt += 1;
    this.setStatus("reconnecting", { attempt: this.attempt, delayMs, reason });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closed) this.socket.connect();
    }, delayMs);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  // -- helpers --------------------------------------------------------------------------

  private sendSubscribe(channel: Channel): void {
    if (!this.subscriptions.startSending(channel)) return;
    const generation = this.generation;
    this.emitWithAck<SubscribeAck>(`subscribe_${channel}`).then(
      (ack) => {
        if (generation !== this.generation || !this.subscriptions.has(channel)) return;
        if (ack.ok) {
          this.subscriptions.confirmed(channel);
          this.subscribedListeners.emit(channel);
          return;
        }
        const error = new RealtimeError("refused", ack.error);
        if (!this.subscriptions.refused(channel, error)) this.report(error);
      },
      (error: unknown) => {
        if (generation !== this.generation || !this.socket.connected) {
          this.subscriptions.interrupted(channel); // sent again on the next connection
          return;
        }
        const failure = asRealtimeError(error);
        if (!this.subscriptions.timedOut(channel, failure)) this.report(failure);
      },
    );
  }

  private async emitWithAck<T>(event: string, ...args: unknown[]): Promise<T> {
    let ack: unknown;
    try {
      ack = await this.socket.timeout(this.ackTimeoutMs).emitWithAck(event, ...args);
    } catch (cause) {
      if (!this.socket.connected) {
        throw new RealtimeError("disconnected",
                                `${event}: the connection was lost before the gateway answered`,
                                { cause });
      }
      throw new RealtimeError("timeout", `${event}: no answer within ${this.ackTimeoutMs} ms`,
                              { cause });
    }
    if (ack === null || typeof ack !== "object" || typeof (ack as { ok?: unknown }).ok !== "boolean") {
      throw new RealtimeError("refused", `${event}: unexpected answer ${JSON.stringify(ack)}`);
    }
    return ack as T;
  }

  private setStatus(status: ConnectionStatus, detail: StatusDetail): void {
    this.statusValue = status;
    this.statusListeners.emit(status, detail);
  }

  private report(error: RealtimeError): void {
    this.errorListeners.emit(error);
  }
}

/** Create a client; it connects at once unless `autoConnect: false`. */
export function createRealtimeClient<Extra extends HandlerMap<Extra> = Record<never, never>>(
  options: RealtimeClientOptions,
): RealtimeClient<Extra> {
  return new RealtimeClient<Extra>(options);
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function asRealtimeError(error: unknown): RealtimeError {
  return error instanceof RealtimeError
    ? error
    : new RealtimeError("transport", describe(error), { cause: error });
}
