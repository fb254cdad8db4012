// Compile-time checks of the public types (npm test runs tsc on this file; nothing runs).
import { createRealtimeClient, type RiderLocationUpdate } from "../src/index.js";

const client = createRealtimeClient<{ assignment: (order: { orderId: string }) => void }>({
  url: "http://127.0.0.1:3001",
  getToken: async (forceRefresh: boolean) => (forceRefresh ? "new" : "cached"),
  autoConnect: false,
});

client.on("rider_location_update", (update: RiderLocationUpdate) => void update.riderId);
client.on("auth_refresh_required", (info) => void info.graceSeconds.toFixed());
client.on("assignment", (order) => void order.orderId.toUpperCase());
// @ts-expect-error: not an event the gateway sends
client.on("no_such_event", () => undefined);
// @ts-expect-error: the payload is a RiderLocationUpdate
client.on("rider_location_update", (update: { nope: number }) => void update);
// @ts-expect-error: not a channel
void client.subscribe("payroll");
// @ts-expect-error: a rider cannot name itself
void client.publishLocation({ latitude: 1, longitude: 2, riderId: "someone-else" });
void client.publishLocation({ latitude: 1, longitude: 2, timestamp: Date.now() })
  .then((ack) => ack.timestamp.length);
