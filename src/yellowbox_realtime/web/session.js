// Who is signed in: the token lives in sessionStorage (this tab only, gone when it closes).
// A `#token=...` fragment signs in too; fragments never reach a server, and the page removes
// it from the address bar and history at once.

const KEY = "yellowbox.dashboard.token";

export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (!token) return null;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  return token.trim();
}

export function storedToken() {
  return sessionStorage.getItem(KEY);
}

export function storeToken(token) {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

/**
 * What the token says about its holder, for display only (the server checks the token;
 * the page never trusts these claims): `{uid, role, expiresAt}`, or null when the token is
 * not a JWT.
 */
export function describeToken(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replaceAll("-", "+").replaceAll("_", "/")
      .padEnd(Math.ceil(parts[1].length / 4) * 4, "="));
    const claims = JSON.parse(json);
    return {
      uid: claims.sub ?? claims.uid ?? claims.user_id ?? null,
      role: claims.role ?? null,
      expiresAt: typeof claims.exp === "number" ? new Date(claims.exp * 1000) : null,
    };
  } catch {
    return null;
  }
}
