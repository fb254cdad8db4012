import assert from "node:assert/strict";
import { test } from "node:test";

import { tokenExpiry } from "../dist/jwt.js";

function token(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}.signature`;
}

test("exp is read from the payload without verifying it", () => {
  assert.equal(tokenExpiry(token({ sub: "ops-1", exp: 1900000000 })), 1900000000);
});

test("non-ASCII claims decode (UTF-8 in base64url)", () => {
  // "name" needs more than one byte per character and makes base64url use - and _.
  assert.equal(tokenExpiry(token({ name: "Zoë ØÅ ~~~???>>>", exp: 1700000001 })), 1700000001);
});

test("tokens without a usable exp give undefined", () => {
  assert.equal(tokenExpiry(token({ sub: "x" })), undefined);
  assert.equal(tokenExpiry(token({ exp: "soon" })), undefined);
  assert.equal(tokenExpiry("not-a-jwt"), undefined);
  assert.equal(tokenExpiry("a.%%%.c"), undefined);
  assert.equal(tokenExpiry(`a.${Buffer.from("[1]").toString("base64url")}.c`), undefined);
});
