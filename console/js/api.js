// The federation API as the console uses it: the same REST endpoints kubectl and fedctl use,
// every request carrying the user's bearer token (or none: the browser's client certificate
// then signs the user in), so authentication and RBAC decide.

export const GROUP = '/apis/federation.meridian.io/v1alpha1';

export class ApiError extends Error {
  constructor(code, message, reason) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

export class Api {
  // `token` null: no Authorization header, so the server authenticates the browser's TLS
  // client certificate (the connection's, presented when the server asks for one).
  constructor(token) {
    this.token = token;
  }

  headers(extra) {
    const auth = this.token ? {Authorization: `Bearer ${this.token}`} : {};
    return {...auth, Accept: 'application/json', ...extra};
  }

  // One request; resolves to the parsed JSON body, rejects with ApiError (the server's Status
  // message when it sent one).
  async request(method, path, body, contentType = 'application/json') {
    const init = {method, headers: this.headers(body === undefined ? {} : {'Content-Type': contentType})};
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(path, init);
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (!res.ok) {
      const message = (json && json.message) || `${method} ${path}: HTTP ${res.status}`;
      throw new ApiError(res.status, message, json && json.reason);
    }
    return json;
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, body); }
  mergePatch(path, body) { return this.request('PATCH', path, body, 'application/merge-patch+json'); }

  // Who the token is (kubectl auth whoami).
  async whoami() {
    const r = await this.post('/apis/authentication.k8s.io/v1/selfsubjectreviews',
                              {apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview'});
    return r.status.userInfo;
  }

  // kubectl auth can-i VERB RESOURCE (group federation.meridian.io unless given).
  async canI(verb, resource, group = 'federation.meridian.io') {
    try {
      const r = await this.post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
        spec: {resourceAttributes: {verb, resource, group}},
      });
      return Boolean(r.status && r.status.allowed);
    } catch {
      return false;
    }
  }
}

const key = (o) => (o.metadata.namespace ? `${o.metadata.namespace}/` : '') + o.metadata.name;

// A live copy of one collection: LIST, then WATCH from the list's resourceVersion (chunked
// JSON lines), re-watching when the server ends the stream and re-listing when it says the
// version is too old. Listeners are called (at most once per animation frame) after changes.
export class Collection {
  constructor(api, path) {
    this.api = api;
    this.path = path;
    this.items = new Map();
    this.listeners = new Set();
    this.loaded = false;
    this.error = null;
    this.abort = new AbortController();
    this.scheduled = false;
    this.run();
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  list() { return [...this.items.values()]; }

  get(k) { return this.items.get(k); }

  stop() { this.abort.abort(); }

  notify() {
    if (this.scheduled) return;
    this.scheduled = true;
    // Once per frame; a hidden tab gets no frames, so it is redrawn on a timer instead.
    const later = document.hidden ? (f) => setTimeout(f, 100) : requestAnimationFrame;
    later(() => {
      this.scheduled = false;
      for (const fn of this.listeners) fn(this);
    });
  }

  async run() {
    const signal = this.abort.signal;
    let rv = null;
    while (!signal.aborted) {
      try {
        if (rv === null) {
          // One LIST, not pages (limit/continue): in headless Chromium the 10 pages of 10,000
          // workloads took 2.4-6.1 s against 0.9-2.6 s for one 8 MiB response, the server
          // answering either in ~0.1 s (docs/performance.md, web console fleet view).
          const list = await this.api.get(this.path);
          this.items = new Map(list.items.map((o) => [key(o), o]));
          rv = list.metadata.resourceVersion;
          this.loaded = true;
          this.error = null;
          this.notify();
        }
        rv = await this.watch(rv, signal);
      } catch (e) {
        if (signal.aborted) return;
        this.error = e;
        this.notify();
        if (e instanceof ApiError && (e.code === 401 || e.code === 403)) return;  // RBAC said no
        rv = null;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  // Follows one watch response; returns the version to resume from, or null to re-list.
  async watch(rv, signal) {
    const sep = this.path.includes('?') ? '&' : '?';
    const url = `${this.path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(rv)}`;
    const res = await fetch(url, {headers: this.api.headers(), signal});
    if (!res.ok) {
      let message = `watch ${this.path}: HTTP ${res.status}`;
      try { message = (await res.json()).message || message; } catch { /* not a Status */ }
      throw new ApiError(res.status, message);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return rv;
      buffer += value;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const event = JSON.parse(line);
        if (event.type === 'ERROR') return null;  // e.g. 410 Gone: the version was compacted
        const o = event.object;
        if (o && o.metadata && o.metadata.resourceVersion) rv = o.metadata.resourceVersion;
        if (event.type === 'BOOKMARK') continue;
        if (event.type === 'DELETED') this.items.delete(key(o));
        else this.items.set(key(o), o);
        this.notify();
      }
    }
  }
}
