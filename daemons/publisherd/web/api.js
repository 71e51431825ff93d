// publisherd's JSON API (README, "Head office: publisherd"). Errors come back as ApiError with the server's
// {"error","message","field"}; a request that never got an answer is a NetworkError.

const sessionKey = 'bcast.session';
const timeoutMs = 20000;

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body?.message || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body?.error || `http_${status}`;
    this.field = body?.field;
    this.retryAfter = retryAfter;
  }
}

export class NetworkError extends Error {
  constructor(cause) {
    super(cause?.message || 'network error');
    this.name = 'NetworkError';
  }
}

// The session cookie is HttpOnly; what the page keeps is who is signed in and the CSRF token.
// sessionStorage: it survives a reload but not the tab.
let session = null;
try {
  session = JSON.parse(sessionStorage.getItem(sessionKey) || 'null');
} catch {
  session = null;
}

export function currentSession() {
  return session;
}

function saveSession(next) {
  session = next;
  try {
    if (next) sessionStorage.setItem(sessionKey, JSON.stringify(next));
    else sessionStorage.removeItem(sessionKey);
  } catch {
    // Kept in memory only.
  }
}

export function forgetSession() {
  saveSession(null);
}

let unauthorizedHandler = () => {};
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

function retryAfterSeconds(res, body) {
  const header = res.headers.get('Retry-After');
  if (header) {
    const n = Number(header);
    if (Number.isFinite(n)) return Math.max(0, Math.ceil(n));
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - Date.now()) / 1000));
  }
  const n = Number(body?.retry_after);
  return Number.isFinite(n) ? Math.max(0, Math.ceil(n)) : undefined;
}

async function request(method, path, body, { auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(method);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (unsafe && session?.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;

  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: abort.signal,
    });
  } catch (err) {
    throw new NetworkError(err);
  } finally {
    clearTimeout(timer);
  }

  let data = null;
  if (res.status !== 204) {
    const text = await res.text().catch(() => '');
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
  }
  if (res.ok) return data;

  const error = new ApiError(res.status, data, retryAfterSeconds(res, data));
  if (res.status === 401 && auth) {
    saveSession(null);
    unauthorizedHandler(error);
  }
  throw error;
}

export async function login(username, password) {
  const data = await request('POST', '/api/v1/login', { username, password }, { auth: false });
  saveSession({ user: data?.user || { name: username, role: '' }, csrf_token: data?.csrf_token });
  return session;
}

export async function logout() {
  try {
    await request('POST', '/api/v1/logout', undefined, { auth: false });
  } finally {
    saveSession(null);
  }
}

export const defaultCategories = [
  { id: 'announcement', label_en: 'Announcement', label_id: 'Pengumuman' },
  { id: 'price_info', label_en: 'Price info', label_id: 'Info Harga' },
  { id: 'discount_info', label_en: 'Discount info', label_id: 'Info Diskon' },
];

let categoriesCache = null;
let limitsCache = null;

// publisherd's configured categories. A daemon without the route (404) gets the default categories.
// The answer may also carry the configured limits:
// {"categories":[...], "limits":{"title_max_chars","body_max_bytes","max_targets"}}.
export async function categories() {
  if (categoriesCache) return categoriesCache;
  try {
    const data = await request('GET', '/api/v1/categories');
    const list = Array.isArray(data?.categories) ? data.categories.filter((c) => c && c.id) : [];
    categoriesCache = list.length ? list : defaultCategories;
    if (data?.limits && typeof data.limits === 'object') limitsCache = data.limits;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) categoriesCache = defaultCategories;
    else throw err;
  }
  return categoriesCache;
}

export function serverLimits() {
  return limitsCache;
}

export async function stores() {
  const data = await request('GET', '/api/v1/stores');
  return Array.isArray(data?.stores) ? data.stores : [];
}

export function sendMessage(draft) {
  return request('POST', '/api/v1/messages', draft);
}

// {messages, nextBefore}: nextBefore is set when the server stopped reading its log before the
// page was full (a user limited to a few targets); the next page starts there.
export async function listMessages({ limit = 20, before } = {}) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (before) q.set('before', before);
  const data = await request('GET', `/api/v1/messages?${q}`);
  return {
    messages: Array.isArray(data?.messages) ? data.messages : [],
    nextBefore: typeof data?.next_before === 'string' ? data.next_before : undefined,
    // id -> {id, at, by, superseded_by} for the recalled messages of this page.
    recalled: data?.recalled && typeof data.recalled === 'object' ? data.recalled : {},
  };
}

export function getMessage(id) {
  return request('GET', `/api/v1/messages/${encodeURIComponent(id)}`);
}

// 200 {id, state: "recalled", recall: {id, at, by, superseded_by}}, also when it was recalled before.
export function recallMessage(id) {
  return request('POST', `/api/v1/messages/${encodeURIComponent(id)}/recall`, {});
}

// Messages waiting for their send_at, soonest first: envelope members plus state
// ("scheduled" | "sending"), send_at and created_at.
export async function listScheduled({ limit = 200 } = {}) {
  const data = await request('GET', `/api/v1/scheduled?${new URLSearchParams({ limit: String(limit) })}`);
  return Array.isArray(data?.scheduled) ? data.scheduled : [];
}

export function cancelScheduled(id) {
  return request('POST', `/api/v1/scheduled/${encodeURIComponent(id)}/cancel`);
}

// The audit log, newest first (admins only): {entries: [{id, at, actor, address, action,
// message_id, result, detail}], next}: next is the `before` of the next page, null at the end.
export async function listAudit({ limit = 50, before } = {}) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (before) q.set('before', before);
  const data = await request('GET', `/api/v1/audit?${q}`);
  return {
    entries: Array.isArray(data?.entries) ? data.entries : [],
    next: typeof data?.next === 'string' ? data.next : null,
  };
}
