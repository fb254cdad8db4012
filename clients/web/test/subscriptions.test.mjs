import assert from "node:assert/strict";
import { test } from "node:test";

import { Subscriptions } from "../dist/subscriptions.js";

test("a fresh connection sends every channel; a recovered one only the unconfirmed", async () => {
  const subs = new Subscriptions();
  const first = subs.add("rider_locations");
  assert.deepEqual(subs.toSend(false), ["rider_locations"]);
  assert.equal(subs.startSending("rider_locations"), true);
  assert.equal(subs.startSending("rider_locations"), false); // already in flight
  subs.confirmed("rider_locations");
  await first;
  const second = subs.add("expense_updates");
  assert.deepEqual(subs.toSend(true), ["expense_updates"]);
  subs.confirmed("expense_updates");
  await second;
  assert.deepEqual(subs.toSend(false), ["rider_locations", "expense_updates"]);
});

test("subscribing to a confirmed channel resolves at once", async () => {
  const subs = new Subscriptions();
  const first = subs.add("rider_locations");
  subs.confirmed("rider_locations");
  await first;
  await subs.add("rider_locations");
  assert.equal(subs.startSending("rider_locations"), false);
});

test("a refusal forgets the channel and fails its waiters", async () => {
  const subs = new Subscriptions();
  const pending = subs.add("rider_locations");
  assert.equal(subs.refused("rider_locations", new Error("role 'finance' may not")), true);
  await assert.rejects(pending, /may not/);
  assert.deepEqual(subs.channels, []);
});

test("a timeout fails the waiters but keeps the channel for the next connection", async () => {
  const subs = new Subscriptions();
  const pending = subs.add("expense_updates");
  subs.startSending("expense_updates");
  assert.equal(subs.timedOut("expense_updates", new Error("no answer")), true);
  await assert.rejects(pending, /no answer/);
  assert.deepEqual(subs.toSend(false), ["expense_updates"]);
});

test("channels dropped while disconnected are unsubscribed only if the server recovered", async () => {
  const subs = new Subscriptions();
  const first = subs.add("rider_locations");
  subs.confirmed("rider_locations");
  await first;
  subs.remove("rider_locations", new Error("unsubscribed"), false);
  assert.deepEqual(subs.takeDropped(true), ["rider_locations"]);
  assert.deepEqual(subs.takeDropped(true), []);
  const again = subs.add("rider_locations");
  subs.confirmed("rider_locations");
  await again;
  subs.remove("rider_locations", new Error("unsubscribed"), false);
  assert.deepEqual(subs.takeDropped(false), []);
});

test("closing fails every pending subscribe", async () => {
  const subs = new Subscriptions();
  const pending = subs.add("rider_locations");
  subs.clear(new Error("closed"));
  await assert.rejects(pending, /closed/);
  assert.deepEqual(subs.channels, []);
});
