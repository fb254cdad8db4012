// A scripted socket.io-client for the Python tests (driven by tests/interop/nodeclient.py).
//
// stdin: one JSON command per line, each with an "id" and a "cmd"; every command gets one
// reply line {"id", "ok": true, ...} or {"id", "ok": false, "error"}.
// stdout: replies and records, one JSON object per line (each write is flushed: stdout is a
// pipe, which Node writes synchronously on Linux). Records carry the client's "name" and a
// "type": open | upgrade | connect | connect_error | disconnect | event | reconnect_attempt |
// reconnect | reconnect_failed; {"type": "error", "message"} reports a line that is not a
// command or an exception nobody caught. Buffers travel as {"$bin": "<base64>"} both ways.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const clients = new Map();

function out(record, done) {
  let line;
  try {
    line = JSON.stringify(record);
  } catch (err) {
    line = JSON.stringify({ type: "error", message: `cannot encode a record: ${err.message}` });
  }
  process.stdout.write(line + "\n", done);
}

function toWire(value) {
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "base64");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

// The second argument of "disconnect": nothing, an Error, or {description, context}.
function describe(details) {
  if (details === undefined || details === null) return null;
  if (details instanceof Error) return details.message;
  const inner = details.description;
  if (typeof inner === "string") return inner;
  if (inner !== undefined && inner !== null) return inner.message ?? String(inner);
  return String(details);
}

function client(name) {
  const socket = clients.get(name);
  if (!socket) throw new Error(`no client named ${JSON.stringify(name)}`);
  return socket;
}

const commands = {
  connect({ name, url, nsp = "/", options = {} }) {
    if (clients.has(name)) throw new Error(`a client named ${JSON.stringify(name)} exists`);
    const socket = io(url.replace(/\/+$/, "") + nsp, { forceNew: true, ...options });
    clients.set(name, socket);
    const manager = socket.io;
    manager.on("open", () => {
      const engine = manager.engine;
      out({ name, type: "open", transport: engine.transport.name });
      engine.on("upgrade", (transport) => out({ name, type: "upgrade", transport: transport.name }));
    });
    manager.on("reconnect_attempt", (attempt) => out({ name, type: "reconnect_attempt", attempt }));
    manager.on("reconnect", (attempt) => out({ name, type: "reconnect", attempt }));
    manager.on("reconnect_failed", () => out({ name, type: "reconnect_failed" }));
    socket.on("connect", () =>
      out({ name, type: "connect", id: socket.id, transport: manager.engine.transport.name,
            recovered: Boolean(socket.recovered) }));
    socket.on("connect_error", (err) =>
      out({ name, type: "connect_error", message: err.message, data: toWire(err.data ?? null) }));
    socket.on("disconnect", (reason, details) =>
      out({ name, type: "disconnect", reason, description: describe(details) }));
    socket.onAny((event, ...args) => {
      const ack = typeof args.at(-1) === "function";
      out({ name, type: "event", event, args: toWire(ack ? args.slice(0, -1) : args), ack });
    });
    return {};
  },
  async emit({ name, event, args = [], ack = false, timeout = 5000 }) {
    const socket = client(name);
    if (!ack) {
      socket.emit(event, ...fromWire(args));
      return {};
    }
    // The callback form of socket.timeout(t).emitWithAck(): the same timer and error, but
    // every argument of the ack is kept (emitWithAck resolves with the first one only).
    const reply = await new Promise((resolve, reject) => {
      socket.timeout(timeout).emit(event, ...fromWire(args), (err, ...ackArgs) =>
        err ? reject(err) : resolve(ackArgs));
    });
    return { ack: toWire(reply) };
  },
  on_ack({ name, event, reply = [] }) {
    client(name).on(event, (...args) => {
      const callback = args.at(-1);
      if (typeof callback === "function") callback(...fromWire(reply));
    });
    return {};
  },
  set_auth({ name, auth }) {
    client(name).auth = auth;
    return {};
  },
  state({ name }) {
    const socket = client(name);
    return { connected: socket.connected, socketId: socket.id ?? null,
             transport: socket.io.engine?.transport?.name ?? null, recovered: Boolean(socket.recovered) };
  },
  disconnect({ name }) {
    client(name).disconnect();
    return {};
  },
  reconnect({ name }) {
    client(name).connect();
    return {};
  },
  exit() {
    for (const socket of clients.values()) socket.disconnect();
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
    out({ id: command.id, ok: false, error: String(err?.message ?? err) });
  }
}

process.on("uncaughtException", (err) => out({ type: "error", message: String(err?.stack ?? err) }));
process.on("unhandledRejection", (err) => out({ type: "error", message: String(err?.stack ?? err) }));
process.stdout.on("error", () => process.exit(0)); // the Python side is gone
process.stdin.on("end", () => process.exit(0));
createInterface({ input: process.stdin }).on("line", run);
