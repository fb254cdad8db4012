/**
 * Which channels the app asked for, and which the server has confirmed on the current
 * connection. No I/O here: the client sends the packets and reports the answers.
 */

import type { Channel } from "./events.js";

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Entry {
  /** The server said yes on this connection (or on one it recovered). */
  confirmed: boolean;
  /** A subscribe packet is waiting for its ack. */
  inFlight: boolean;
  /** subscribe() calls waiting for the server's answer. */
  waiters: Waiter[];
}

export class Subscriptions {
  private readonly entries = new Map<Channel, Entry>();
  /**
   * Channels dropped while disconnected that the server had confirmed: if it recovers the
   * old session it still has them, so they are unsubscribed then.
   */
  private readonly dropped = new Set<Channel>();

  get channels(): Channel[] {
    return [...this.entries.keys()];
  }

  has(channel: Channel): boolean {
    return this.entries.has(channel);
  }

  isConfirmed(channel: Channel): boolean {
    return this.entries.get(channel)?.confirmed ?? false;
  }

  /** Remember `channel`; the promise settles when the server answers. */
  add(channel: Channel): Promise<void> {
    let entry = this.entries.get(channel);
    if (entry?.confirmed) return Promise.resolve();
    if (entry === undefined) {
      entry = { confirmed: false, inFlight: false, waiters: [] };
      this.entries.set(channel, entry);
      this.dropped.delete(channel);
    }
    const waiters = entry.waiters;
    return new Promise<void>((resolve, reject) => {
      waiters.push({ resolve, reject });
    });
  }

  /** Forget `channel`; pending subscribe() calls fail with `error`. */
  remove(channel: Channel, error: Error, connected: boolean): boolean {
    const entry = this.entries.get(channel);
    if (entry === undefined) return false;
    this.entries.delete(channel);
    if (entry.confirmed && !connected) this.dropped.add(channel);
    for (const waiter of entry.waiters.splice(0)) waiter.reject(error);
    return true;
  }

  /** Channels to send now: all of them after a fresh connection, else the unconfirmed. */
  toSend(recovered: boolean): Channel[] {
    const send: Channel[] = [];
    for (const [channel, entry] of this.entries) {
      if (!recovered) entry.confirmed = false;
      entry.inFlight = false;
      if (!entry.confirmed) send.push(channel);
    }
    return send;
  }

  /** Channels to unsubscribe after a connection is established (see `dropped`). */
  takeDropped(recovered: boolean): Channel[] {
    const dropped = recovered ? [...this.dropped] : [];
    this.dropped.clear();
    return dropped;
  }

  /** Whether a subscribe packet for `channel` should go out now. */
  startSending(channel: Channel): boolean {
    const entry = this.entries.get(channel);
    if (entry === undefined || entry.confirmed || entry.inFlight) return false;
    entry.inFlight = true;
    return true;
  }

  /** Back to unsent: the connection was lost before the answer came. */
  interrupted(channel: Channel): void {
    const entry = this.entries.get(channel);
    if (entry !== undefined) entry.inFlight = false;
  }

  confirmed(channel: Channel): void {
    const entry = this.entries.get(channel);
    if (entry === undefined) return;
    entry.confirmed = true;
    entry.inFlight = false;
    for (const waiter of entry.waiters.splice(0)) waiter.resolve();
  }

  /** The server refused: forget the channel. Returns whether anyone was waiting. */
  refused(channel: Channel, error: Error): boolean {
    const entry = this.entries.get(channel);
    if (entry === undefined) return false;
    this.entries.delete(channel);
    const waiters = entry.waiters.splice(0);
    for (const waiter of waiters) waiter.reject(error);
    return waiters.length > 0;
  }

  /** No answer in time: waiters fail, the channel stays to be sent on the next connection. */
  timedOut(channel: Channel, error: Error): boolean {
    const entry = this.entries.get(channel);
    if (entry === undefined) return false;
    entry.inFlight = false;
    const waiters = entry.waiters.splice(0);
    for (const waiter of waiters) waiter.reject(error);
    return waiters.length > 0;
  }

  /** The client is closed: every pending subscribe() fails. */
  clear(error: Error): void {
    for (const entry of this.entries.values()) {
      for (const waiter of entry.waiters.splice(0)) waiter.reject(error);
    }
    this.entries.clear();
    this.dropped.clear();
  }
}
