// Drives the BUILT web client package (clients/web/dist) for the Python tests, through
// tests/interop/web_client_driver.py. Same line protocol as ../node/driver.mjs: one JSON
// command per line on stdin, each answered by {"id", "ok": true, ...} or {"id", "ok": false,
// "error", "kind"}; everything else on stdout is a record of one client ("name", "type"):
// get_token | status | client_error | subscribed | token_refreshed | connect | disconnect |
// event. getToken is answered by Python: the driver writes a get_token record with a
// "request" number and waits for the "token" command with that number.
import { createInterface } from "node:readline";
import { createRealtimeClient } from "../../../clients/web/dist/index.js";

const SERVER_EVENTS = ["rider_location_update", "expense_status_change", "gateway_error",
                       "auth_refresh_required", "auth_expired"];

const clients = new Map();
const tokenRequests = new Map();
let nextRequest = 1;

function out(record, done) {
  process.stdout.write(JSON.stringify(record) + "\n", done);
}

function client(name) {
  const found = clients.get(name);
  if (!found) throw new Error(`no client named ${JSON.stringify(name)}`);
  return found;
}

const commands = {
  create({ name, url, options = {}, events = [] }) {
    if (clients.has(name)) throw new Error(`a client named ${JSON.stringify(name)} exists`);
    const getToken = (force) => new Promise((resolve, reject) => {
      const request = nextRequest++;
      tokenRequests.set(request, { resolve, reject });
      out({ name, type: "get_token", force, request });
    });
    const realtime = createRealtimeClient({ url, getToken, autoConnect: false, ...options });
    clients.set(name, realtime);
    realtime.onStatus((status, detail) => out({ name, type: "status", status, ...detail }));
    realtime.onError((error) =>
      out({ name, type: "client_error", kind: error.kind, message: error.message }));
    realtime.onSubscribed((channel) => out({ name, type: "subscribed", channel }));
    realtime.onTokenRefreshed((expiresAt) => out({ name, type: "token_refreshed", expiresAt }));
    // The raw socket's view, so tests can tell connections apart.
    realtime.socket.on("connect", () =>
      out({ name, type: "connect", id: realtime.id, recovered: Boolean(realtime.socket.recovered) }));
    realtime.socket.on("disconnect", (reason) => out({ name, type: "disconnect", reason }));
    for (const event of [...SERVER_EVENTS, ...events]) {
      realtime.on(event, (...args) => out({ name, type: "event", event, args }));
    }
    if (options.autoConnect !== false) realtime.connect();
    return {};
  },
  token({ request, token, error }) {
    const pending = tokenRequests.get(request);
    if (!pending) throw new Error(`no token request ${request}`);
    tokenRequests.delete(request);
    if (error !== undefined) pending.reject(new Error(error));
    else pending.resolve(token);
    return {};
  },
  async subscribe({ name, channel }) {
    await client(name).subscribe(channel);
    return {};
  },
  async unsubscribe({ name, channel }) {
    await client(name).unsubscribe(channel);
    return {};
  },
  async publish({ name, location }) {
    return { ack: await client(name).publishLocation(location) };
  },
  async refresh({ name }) {
    await client(name).refreshToken();
    return {};
  },
  state({ name }) {
    const realtime = client(name);
    return { status: realtime.status, connected: realtime.connected, socketId: realtime.id ?? null,
             channels: realtime.channels };
  },
  close({ name }) {
    client(name).close();
    return {};
  },
  exit() {
    for (const realtime of clients.values()) realtime.close();
    return { exit: true };
  },
};

async function run(line) {
  let command;
  try {
    command = JSON.parse(line);
  } catch (err) {
    out({ type: "error", message: `not JSON: ${err.message}: ${line.slice(0, 200)}` });
    return;
  }
  if (command === null || typeof command !== "object" || command.id === undefined) {
    out({ type: "error", message: `not a command (no "id"): ${line.slice(0, 200)}` });
    return;
  }
  try {
    const handler = Object.hasOwn(commands, command.cmd) ? commands[command.cmd] : undefined;
    if (!handler) throw new Error(`unknown command ${JSON.stringify(command.cmd)}`);
    const { exit, ...result } = await handler(command);
    out({ id: command.id, ok: true, ...result }, exit ? () => process.exit(0) : undefined);
  } catch (err) {
    out({ id: command.id, ok: false, error: String(err?.message ?? err), kind: err?.kind ?? null });
  }
}

process.on("uncaughtException", (err) => out({ type: "error", message: String(err?.stack ?? err) }));
process.on("unhandledRejection", (err) => out({ type: "error", message: String(err?.stack ?? err) }));
process.stdout.on("error", () => process.exit(0)); // the Python side is gone
process.stdin.on("end", () => process.exit(0));
createInterface({ input: process.stdin }).on("line", run);
