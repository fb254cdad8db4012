// One EventSource on /sse for every channel the dashboard shows, opened with a one-time
// ticket and re-opened by this code (never by the browser) when it fails.
//
// A ticket is good for one stream, and the browser's own EventSource reconnect reuses the
// URL, ticket included, so it cannot work: on any error the stream is closed and, after a
// backoff with jitter, opened again with a fresh ticket and the last event id seen, from
// which the server resumes (or says `stream_reset` and sends fresh snapshots).

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 20_000;

/** The server refused the token itself: trying again cannot help, signing in again can. */
export class SignInRequired extends Error {}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch {
    // Not JSON: the status says enough.
  }
  return `${response.status} ${response.statusText}`.trim();
}

export class LiveStream {
  /**
   * @param {object} options
   * @param {string[]} options.channels what to read
   * @param {() => string} options.token the signed-in user's token
   * @param {Record<string, (data: any) => void>} options.handlers by event name
   * @param {(state: {state: string, reason?: string, retryAt?: number}) => void} options.onState
   */
  constructor({channels, token, handlers, onState}) {
    this.channels = channels;
    this.token = token;
    this.handlers = handlers;
    this.onState = onState;
    this.source = null;
    this.lastEventId = "";
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** Close for good (signing out). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.source) this.source.close();
    this.source = null;
  }

  async open() {
    if (this.stopped) return;
    this.onState({state: "connecting"});
    let ticket;
    try {
      ticket = await this.ticket();
    } catch (error) {
      this.failed(error);
      return;
    }
    if (this.stopped) return;
    const url = new URL("/sse", location.origin);
    url.searchParams.set("channels", this.channels.join(","));
    url.searchParams.set("ticket", ticket);
    if (this.lastEventId) url.searchParams.set("lastEventId", this.lastEventId);
    const source = new EventSource(url);
    this.source = source;
    let ready = false;
    const listen = (name, handler) => source.addEventListener(name, (event) => {
      if (this.source !== source) return;
      if (event.lastEventId) this.lastEventId = event.lastEventId;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        console.warn(`ignoring ${name}: its data is not JSON`);
        return;
      }
      handler(data);
    });
    listen("ready", () => {
      ready = true;
      this.attempt = 0;
      this.onState({state: "live"});
    });
    for (const [name, handler] of Object.entries(this.handlers)) listen(name, handler);
    source.addEventListener("error", () => {
      if (this.source !== source) return;
      source.close();
      this.source = null;
      // Failing before `ready` may be the server refusing the stream (an EventSource cannot
      // see why); after it, the connection was lost.
      if (ready) this.retry("connection lost");
      else this.diagnose().catch((error) => this.failed(error));
    });
  }

  async ticket() {
    let response;
    try {
      response = await fetch("/sse/tickets", {
        method: "POST", headers: {Authorization: "Bearer " + this.token()}});
    } catch {
      throw new Error("the gateway cannot be reached");
    }
    if (response.status === 401 || response.status === 403) {
      throw new SignInRequired(await errorMessage(response));
    }
    if (!response.ok) throw new Error(await errorMessage(response));
    return (await response.json()).ticket;
  }

  /** Ask the same stream with the token in a header, which lets us read a refusal. */
  async diagnose() {
    const url = new URL("/sse", location.origin);
    url.searchParams.set("channels", this.channels.join(","));
    const abort = new AbortController();
    let response;
    try {
      response = await fetch(url, {
        headers: {Authorization: "Bearer " + this.token()}, signal: abort.signal});
    } catch {
      this.retry("the gateway cannot be reached");
      return;
    }
    // Only the status is wanted: a stream that opens is dropped at once.
    if (response.ok) {
      abort.abort();
      this.retry("the stream closed before it was ready");
      return;
    }
    const message = await errorMessage(response);
    if (response.status === 401 || response.status === 403) throw new SignInRequired(message);
    this.retry(message);
  }

  failed(error) {
    if (this.stopped) return;
    if (error instanceof SignInRequired) {
      this.stop();
      this.onState({state: "signed_out", reason: error.message});
    } else {
      this.retry(error.message);
    }
  }

  retry(reason) {
    if (this.stopped) return;
    // Exponential, capped, with jitter so a gateway restart is not met by every page at once.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
    this.attempt += 1;
    this.onState({state: "reconnecting", reason, retryAt: Date.now() + delay});
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.open();
    }, delay);
  }
}
