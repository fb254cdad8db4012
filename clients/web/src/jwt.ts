/**
 * Reads a JWT's expiry without verifying it: the client only needs to know when to ask for
 * a new token; the gateway is the one that checks signatures.
 */

/** The token's `exp` claim (seconds since the epoch), or undefined if it has none. */
export function tokenExpiry(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(decodeBase64Url(parts[1]));
  } catch {
    return undefined;
  }
  if (claims === null || typeof claims !== "object") return undefined;
  const exp = (claims as Record<string, unknown>)["exp"];
  return typeof exp === "number" && Number.isFinite(exp) ? exp : undefined;
}

function decodeBase64Url(text: string): string {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  // Claims may hold non-ASCII text (names); decoding as UTF-8 keeps them intact.
  return new TextDecoder().decode(bytes);
}
