// The seed's Socket.IO server behaviour (part A of streaming-infrastructure.md) on Node
// socket.io 4 with default settings, for side-by-side benchmarks with the gateway.
//
// With BENCH_REDIS_URL set it uses the Redis adapter, so several such processes are one server.
//
// Authentication accepts the gateway's dev tokens: HS256 JWTs checked with the shared secret
// (BENCH_SECRET) using node:crypto, with the role taken from the `role` claim.
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { Server } = require("socket.io");

const port = Number(process.env.BENCH_PORT || 0);
const secret = process.env.BENCH_SECRET || "";

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

function verifyToken(token) {
  if (typeof token !== "string") throw new Error("no token");
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("malformed token");
  const header = b64urlJson(parts[0]);
  if (header.alg !== "HS256") throw new Error("unexpected algorithm");
  const expected = crypto.createHmac("sha256", secret)
    .update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new Error("bad signature");
  }
  const claims = b64urlJson(parts[1]);
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) {
    throw new Error("token expired");
  }
  return claims;
}

const httpServer = http.createServer();
const io = new Server(httpServer, {
  cors: { origin: "*" },
  transports: ["websocket", "polling"],
});

io.use((socket, next) => {
  try {
    const claims = verifyToken(socket.handshake.auth.token);
    socket.userId = claims.sub;
    socket.userRole = claims.role || "rider";
    next();
  } catch (error) {
    next(new Error("Authentication failed"));
  }
});

io.on("connection", (socket) => {
  socket.join(`role_${socket.userRole}`);
  socket.on("subscribe_rider_locations", () => {
    if (["admin", "operations"].includes(socket.userRole)) socket.join("rider_locations");
  });
  socket.on("subscribe_expense_updates", () => {
    if (["admin", "finance", "operations"].includes(socket.userRole)) {
      socket.join("expense_updates");
    }
  });
  socket.on("publish_location", (locationData) => {
    if (socket.userRole === "rider") {
      io.to("rider_locations").emit("rider_location_update", {
        riderId: socket.userId,
        ...locationData,
        timestamp: new Date().toISOString(),
      });
    }
  });
});

function listen() {
  httpServer.listen(port, "127.0.0.1", () => {
    // The harness reads this line to learn the port.
    console.log(`listening ${httpServer.address().port}`);
  });
}

// BENCH_REDIS_URL: several processes on one Redis, as socket.io scales out, with
// @socket.io/redis-adapter (default options) and node-redis clients for pub and sub.
const redisUrl = process.env.BENCH_REDIS_URL;
if (redisUrl) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) {
    client.on("error", (error) => console.error(`redis: ${error.message}`));
  }
  Promise.all([pubClient.connect(), subClient.connect()]).then(() => {
    io.adapter(createAdapter(pubClient, subClient));
    listen();
  }, (error) => {
    console.error(`redis: ${error.message}`);
    process.exit(1);
  });
} else {
  listen();
}
