import assert from "node:assert/strict";
import { test } from "node:test";

import { backoffDelay, validateBackoff } from "../dist/backoff.js";

const options = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 };
const middle = () => 0.5; // no jitter either way

test("delays grow by the factor and stop at the cap", () => {
  const delays = [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, options, middle));
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
});

test("jitter spreads a delay by the fraction either way, never past the cap", () => {
  assert.equal(backoffDelay(1, options, () => 0), 100);
  assert.equal(backoffDelay(1, options, () => 0.999999), 300);
  assert.equal(backoffDelay(10, options, () => 0), 500);
  assert.equal(backoffDelay(10, options, () => 0.999999), 1000);
});

test("a very large attempt is the cap, not NaN or Infinity", () => {
  assert.equal(backoffDelay(5000, options, middle), 1000);
});

test("options that cannot work are refused when the client is made", () => {
  assert.throws(() => validateBackoff({ ...options, initialDelayMs: -1 }), RangeError);
  assert.throws(() => validateBackoff({ ...options, maxDelayMs: 50 }), RangeError);
  assert.throws(() => validateBackoff({ ...options, factor: 0.5 }), RangeError);
  assert.throws(() => validateBackoff({ ...options, jitter: 2 }), RangeError);
  assert.throws(() => validateBackoff({ ...options, jitter: Number.NaN }), RangeError);
  assert.deepEqual(validateBackoff(options), options);
});
