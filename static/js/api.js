// REST client: the access token lives in memory only; the refresh token is an HttpOnly
// cookie the page never sees. A 401 triggers one refresh and one retry.
//
// Refreshing rotates the refresh cookie and the server treats a reused (already rotated)
// token as theft, revoking the whole family. Tabs share the cookie jar, so two tabs
// refreshing at once would log each other out: refreshes are serialized across tabs
// with the Web Locks API (and within a tab by sharing one in-flight promise).

const REFRESH_LOCK = "chatd-refresh";
/** Tabs tell each other about a log-out, so none keeps showing a dead session. */
const AUTH_CHANNEL = "chatd-auth";

export class ApiError extends Error {
  constructor(status, code, message, fields = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON: fall through to a generic message */
  }
  const err = body && body.error ? body.error : {};
  const retry = response.headers.get("Retry-After");
  return new ApiError(
    response.status,
    err.code || `http_${response.status}`,
    err.message || `${response.status} ${response.statusText || "error"}`,
    err.fields || null,
    retry ? Number(retry) : null,
  );
}

export class Api extends EventTarget {
  constructor() {
    super();
    this.token = null;
    this.expiresAt = 0;
    this.user = null;
    this._refreshing = null;
    this._channel = "BroadcastChannel" in window ? new BroadcastChannel(AUTH_CHANNEL) : null;
    if (this._channel) {
      this._channel.onmessage = (event) => {
        if (event.data && event.data.type === "logout" && this.token) this._dropSession("logged out in another tab");
      };
    }
  }

  /** Seconds until the access token expires (negative when it has). */
  get secondsLeft() {
    return (this.expiresAt - Date.now()) / 1000;
  }

  _setSession(body) {
    this.token = body.access_token;
    this.expiresAt = Date.now() + body.expires_in * 1000;
    this.user = body.user;
    this.dispatchEvent(new CustomEvent("session", { detail: { user: body.user, token: this.token } }));
  }

  _dropSession(reason) {
    this.token = null;
    this.expiresAt = 0;
    this.dispatchEvent(new CustomEvent("logout", { detail: { reason } }));
  }

  async _post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await errorFrom(response);
    return response.status === 204 ? null : response.json();
  }

  async register(username, password) {
    this._setSession(await this._post("/api/auth/register", { username, password }));
    return this.user;
  }

  async login(username, password) {
    this._setSession(await this._post("/api/auth/login", { username, password }));
    return this.user;
  }

  /** Get a fresh access token with the refresh cookie; resolves false when logged out. */
  refresh() {
    if (!this._refreshing) {
      const run = async () => {
        try {
          this._setSession(await this._post("/api/auth/refresh"));
          return true;
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) return false;
          throw err;
        }
      };
      const locked = navigator.locks ? navigator.locks.request(REFRESH_LOCK, run) : run();
      this._refreshing = locked.finally(() => {
        this._refreshing = null;
      });
    }
    return this._refreshing;
  }

  async logout() {
    const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
    if (this.token) {
      await fetch("/api/files/session", { method: "DELETE", credentials: "same-origin", headers }).catch(() => null);
    }
    try {
      await fetch("/api/auth/logout", { method: "POST", credentials: "same-origin", headers });
    } finally {
      if (this._channel) this._channel.postMessage({ type: "logout" });
      this._dropSession("logged out");
    }
  }

  /** An authenticated JSON request; one refresh + retry on 401. */
  async request(method, path, body) {
    for (let attempt = 0; ; attempt++) {
      const headers = { Authorization: `Bearer ${this.token}` };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await fetch(path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (response.status === 401 && attempt === 0) {
        if (await this.refresh()) continue;
        this._dropSession("session expired");
      }
      if (!response.ok) throw await errorFrom(response);
      return response.status === 204 ? null : response.json();
    }
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body) {
    return this.request("POST", path, body);
  }

  // -- endpoints -------------------------------------------------------------------------

  rooms() {
    return this.get("/api/rooms");
  }

  createRoom(name, isPrivate, topic = "", voice = false) {
    return this.post("/api/rooms", { name, private: isPrivate, topic, ...(voice ? { voice } : {}) });
  }

  history(room, { before, after, limit } = {}) {
    const q = new URLSearchParams();
    if (before !== undefined) q.set("before", String(before));
    if (after !== undefined) q.set("after", String(after));
    if (limit !== undefined) q.set("limit", String(limit));
    const qs = q.toString();
    return this.get(`/api/rooms/${encodeURIComponent(room)}/messages${qs ? `?${qs}` : ""}`);
  }

  members(room) {
    return this.get(`/api/rooms/${encodeURIComponent(room)}/members`);
  }

  invite(room, username) {
    return this.post(`/api/rooms/${encodeURIComponent(room)}/members`, { username });
  }

  /** Conversations issue: a DM with these users (usernames); the same room for the same set. */
  openDm(usernames) {
    return this.post("/api/dms", { users: usernames });
  }

  thread(room, id, { before } = {}) {
    const qs = before !== undefined ? `?before=${before}` : "";
    return this.get(`/api/rooms/${encodeURIComponent(room)}/threads/${encodeURIComponent(id)}/messages${qs}`);
  }

  search(q, { room } = {}) {
    const params = new URLSearchParams({ q });
    if (room) params.set("room", room);
    return this.get(`/api/search?${params}`);
  }

  /** Files issue: a cookie that lets <img src=fileUrl> load without an Authorization header. */
  fileSession() {
    return this.post("/api/files/session");
  }

  /**
   * Upload files with an optional caption. XMLHttpRequest (not fetch) because it reports
   * upload progress. Returns {promise, abort}; `onProgress(fraction)` runs as bytes go out.
   */
  upload(room, files, { text = "", nonce = null, threadId = null } = {}, onProgress = null) {
    const xhr = new XMLHttpRequest();
    const promise = new Promise((resolve, reject) => {
      const send = (retried) => {
        const form = new FormData();
        for (const file of files) form.append("file", file, file.name);
        if (text) form.append("text", text);
        // The same nonce on a retry stores nothing new (the server answers 200).
        if (nonce) form.append("nonce", nonce);
        if (threadId) form.append("threadId", threadId);
        xhr.open("POST", `/api/rooms/${encodeURIComponent(room)}/files`);
        xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
        xhr.upload.onprogress = (e) => {
          if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
        };
        xhr.onerror = () => reject(new ApiError(0, "network", "the upload failed: network error"));
        xhr.onabort = () => reject(new ApiError(0, "aborted", "upload cancelled"));
        xhr.onload = async () => {
          if (xhr.status === 401 && !retried && (await this.refresh())) {
            send(true);
            return;
          }
          let body = null;
          try {
            body = JSON.parse(xhr.responseText);
          } catch {
            /* handled below */
          }
          if (xhr.status >= 200 && xhr.status < 300) resolve(body);
          else {
            const err = (body && body.error) || {};
            const message =
              err.message || (xhr.status === 413 ? "that file is too large" : `upload failed (HTTP ${xhr.status})`);
            reject(new ApiError(xhr.status, err.code || `http_${xhr.status}`, message, err.fields || null));
          }
        };
        xhr.send(form);
      };
      send(false);
    });
    return { promise, abort: () => xhr.abort() };
  }
}
