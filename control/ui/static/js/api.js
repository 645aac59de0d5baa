// The admin API, called with the token in an Authorization header (never a cookie, never a
// URL). The token lives in sessionStorage: gone when the tab closes.
const KEY = "turnout.token";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = (body && body.error) || {};
    super(detail.message || `HTTP ${status}`);
    this.status = status;
    this.code = detail.code || "";
    this.field = detail.field || null;
  }
}

export const session = {
  token: () => sessionStorage.getItem(KEY),
  save: (token) => sessionStorage.setItem(KEY, token),
  clear: () => sessionStorage.removeItem(KEY),
  identity: null, // {name, role} from /admin/whoami
};

const RANK = { viewer: 0, operator: 1, admin: 2 };

export function can(role) {
  return session.identity !== null && RANK[session.identity.role] >= RANK[role];
}

export const stats = { requests: 0 }; // admin API calls made by this page (shown in tests)

export async function api(method, path, body, token) {
  const headers = { Authorization: `Bearer ${token || session.token() || ""}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  stats.requests += 1;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);

// For features a server may not have yet (404 from the router, not a named route): null.
export async function optional(path) {
  try {
    return await get(path);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

export const enc = encodeURIComponent;
