// The federation API as the console uses it: the same REST endpoints kubectl and fedctl use,
// every request carrying the user's bearer token, so authentication and RBAC decide.

export const GROUP = '/apis/federation.meridian.io/v1alpha1';

export class ApiError extends Error {
  constructor(code, message, reason) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  headers(extra) {
    return {Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...extra};
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

// Items per LIST page: large enough that a 10,000-item list is a few round trips, small enough
// that the first page arrives at once.
const PAGE_SIZE = 1000;

// `path` with `params` added to its query.
const withQuery = (path, params) => `${path}${path.includes('?') ? '&' : '?'}${new URLSearchParams(params)}`;

const key = (o) => (o.metadata.namespace ? `${o.metadata.namespace}/` : '') + o.metadata.name;

// A live copy of one collection: LIST (in pages), then WATCH from the list's resourceVersion (chunked
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
        if (rv === null) rv = await this.listPages();
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

  // LISTs in pages of PAGE_SIZE (limit/continue, as kubectl does), so that the first items are
  // drawn while the server still sends the rest (10,000 workloads are 8 MiB in one response);
  // a re-list keeps showing the previous items until it is complete. Every page is the same
  // snapshot (the continue token carries the first page's revision), whose resourceVersion the
  // watch then starts from. An expired continue token (410) throws, and run() lists again.
  async listPages() {
    const fresh = new Map();
    let next = '', rv;
    do {
      const page = await this.api.get(withQuery(this.path, next ? {limit: PAGE_SIZE, continue: next} : {limit: PAGE_SIZE}));
      for (const o of page.items) fresh.set(key(o), o);
      rv = page.metadata.resourceVersion;
      next = page.metadata.continue || '';
      if (!this.loaded) {
        this.items = fresh;
        this.notify();
      }
    } while (next);
    this.items = fresh;
    this.loaded = true;
    this.error = null;
    this.notify();
    return rv;
  }

  // Follows one watch response; returns the version to resume from, or null to re-list.
  async watch(rv, signal) {
    const url = withQuery(this.path, {watch: 1, allowWatchBookmarks: true, resourceVersion: rv});
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
