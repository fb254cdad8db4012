/** One error type for everything the client reports, so callers can tell ours apart. */

export type RealtimeErrorKind =
  /** The gateway answered `{ok: false, error}` or refused the connection. */
  | "refused"
  /** No acknowledgement arrived in time. */
  | "timeout"
  /** The operation needs a connection and there is none. */
  | "disconnected"
  /** `getToken` failed. */
  | "token"
  /** The connection could not be made (network, transport). */
  | "transport"
  /** The client was closed. */
  | "closed";

export class RealtimeError extends Error {
  readonly kind: RealtimeErrorKind;

  constructor(kind: RealtimeErrorKind, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = "RealtimeError";
    this.kind = kind;
    if (options?.cause !== undefined) {
      // Set by hand: the `cause` constructor option needs ES2022 and we target ES2020.
      (this as { cause?: unknown }).cause = options.cause;
    }
  }
}
