// A scripted socket.io-client for the Python tests. Commands arrive as JSON lines on
// stdin, each with an "id"; the reply carries the same id. Everything a client sees is
// written to stdout as JSON lines: {"name", "type": "connect" | "connect_error" |
// "disconnect" | "event" | "upgrade", ...}. Buffers travel as {"$bin": "<base64>"}.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const clients = new Map();

function out(record) {
  process.stdout.write(JSON.stringify(record) + "\n");
}

function toWire(value) {
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "base64");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

function client(name) {
  const socket = clients.get(name);
  if (!socket) throw new Error(`no client named ${name}`);
  return socket;
}

const commands = {
  connect({ name, url, nsp = "/", options = {} }) {
    const socket = io(url + nsp, { forceNew: true, ...options });
    clients.set(name, socket);
    socket.io.on("open", () => {
      const engine = socket.io.engine;
      out({ name, type: "open", transport: engine.transport.name });
      engine.on("upgrade", (transport) => out({ name, type: "upgrade", transport: transport.name }));
    });
    socket.on("connect", () =>
      out({ name, type: "connect", id: socket.id, transport: socket.io.engine.transport.name,
            recovered: socket.recovered }));
    socket.on("connect_error", (err) =>
      out({ name, type: "connect_error", message: err.message, data: err.data ?? null }));
    socket.on("disconnect", (reason, description) =>
      out({ name, type: "disconnect", reason, description: description?.description?.message ?? null }));
    socket.onAny((event, ...args) => out({ name, type: "event", event, args: toWire(args) }));
    return {};
  },
  async emit({ name, event, args = [], ack = false, timeout = 5000 }) {
    const socket = client(name);
    if (!ack) {
      socket.emit(event, ...fromWire(args));
      return {};
    }
    const reply = await new Promise((resolve, reject) => {
      socket.timeout(timeout).emit(event, ...fromWire(args), (err, ...replyArgs) =>
        err ? reject(err) : resolve(replyArgs));
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
             transport: socket.io.engine?.transport?.name ?? null, recovered: socket.recovered };
  },
  disconnect({ name }) {
    client(name).disconnect();
    return {};
  },
  exit() {
    for (const socket of clients.values()) socket.disconnect();
    setImmediate(() => process.exit(0));
    return {};
  },
};

createInterface({ input: process.stdin }).on("line", async (line) => {
  let command;
  try {
    command = JSON.parse(line);
    const handler = commands[command.cmd];
    if (!handler) throw new Error(`unknown command ${command.cmd}`);
    out({ id: command.id, ok: true, ...(await handler(command)) });
  } catch (err) {
    out({ id: command?.id ?? null, ok: false, error: String(err?.message ?? err) });
  }
});
process.stdin.on("end", () => process.exit(0));
