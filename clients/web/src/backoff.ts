/**
 * Capped exponential backoff with jitter, shared by reconnects and token-refresh retries.
 *
 * Jitter spreads a fleet of clients that lost the gateway at the same moment (a deploy, a
 * network blip) so they do not all come back in the same instant.
 */

export interface BackoffOptions {
  /** Delay before the first retry, in milliseconds. */
  initialDelayMs: number;
  /** No delay grows beyond this, in milliseconds. */
  maxDelayMs: number;
  /** Each retry waits this many times longer than the one before. */
  factor: number;
  /**
   * Fraction of the delay that is randomised, 0..1: 0.5 turns 1000 ms into 500..1500 ms.
   */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: 1000,
  maxDelayMs: 30000,
  factor: 2,
  jitter: 0.5,
};

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const { initialDelayMs, maxDelayMs, factor, jitter } = options;
  // Math.pow overflows to Infinity for large attempts; the cap keeps that harmless.
  const base = Math.min(maxDelayMs, initialDelayMs * Math.pow(factor, Math.max(0, attempt)));
  const spread = base * jitter;
  const delay = base - spread + random() * 2 * spread;
  return Math.max(0, Math.min(maxDelayMs, Math.round(delay)));
}

/** Checks options once, when the client is created, so a typo fails early and clearly. */
export function validateBackoff(options: BackoffOptions): BackoffOptions {
  const { initialDelayMs, maxDelayMs, factor, jitter } = options;
  if (!(initialDelayMs >= 0)) throw new RangeError("reconnect initialDelayMs must be >= 0");
  if (!(maxDelayMs >= initialDelayMs)) {
    throw new RangeError("reconnect maxDelayMs must be >= initialDelayMs");
  }
  if (!(factor >= 1)) throw new RangeError("reconnect factor must be >= 1");
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError("reconnect jitter must be in [0, 1]");
  return options;
}
