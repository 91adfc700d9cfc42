// A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (no npm packages, no
// WebSocket): Chromium reads NUL-terminated JSON commands on fd 3 and answers on fd 4.
import {spawn} from 'node:child_process';

export class Browser {
  // Starts headless `chromium` with a fresh profile in `profileDir`; `env` (optional) is its
  // environment (e.g. a HOME whose NSS database holds a client certificate).
  static async launch(chromium, profileDir, env = process.env) {
    const proc = spawn(chromium, [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
      '--disable-dev-shm-usage', '--disable-extensions', '--remote-debugging-pipe',
      `--user-data-dir=${profileDir}`, '--window-size=1400,1000',
      // Nothing but the federation endpoint: any other host fails to resolve.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      'about:blank',
    ], {stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], env});
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
    const b = new Browser(proc);
    b.stderr = () => stderr;
    await b.send('Browser.getVersion');
    return b;
  }

  constructor(proc) {
    this.proc = proc;
    this.out = proc.stdio[3];
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = [];
    let buf = Buffer.alloc(0);
    proc.stdio[4].on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let end;
      while ((end = buf.indexOf(0)) >= 0) {
        const msg = JSON.parse(buf.subarray(0, end).toString('utf8'));
        buf = buf.subarray(end + 1);
        if (msg.id && this.pending.has(msg.id)) {
          const {resolve, reject, method} = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
          else resolve(msg.result);
        } else if (msg.method) {
          for (const h of this.handlers) h(msg);
        }
      }
    });
    proc.on('exit', (code) => {
      for (const {reject, method} of this.pending.values()) reject(new Error(`${method}: chromium exited (${code})`));
      this.pending.clear();
    });
  }

  // One command; rejects when Chromium answers an error or not within 15 s (a command never
  // hangs the test).
  send(method, params = {}, sessionId = undefined) {
    const id = this.nextId++;
    const msg = {id, method, params};
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer from chromium within 15 s`));
      }, 15000);
      const done = (f) => (v) => { clearTimeout(timer); f(v); };
      this.pending.set(id, {resolve: done(resolve), reject: done(reject), method});
      this.out.write(JSON.stringify(msg) + '\0');
    });
  }

  on(fn) { this.handlers.push(fn); }

  // A new tab; `isolated` gives it its own browser context (storage, cookies, renderer), as a
  // second user on another machine would have.
  async newPage(isolated = false) {
    const params = {url: 'about:blank'};
    if (isolated) params.browserContextId = (await this.send('Target.createBrowserContext')).browserContextId;
    const {targetId} = await this.send('Target.createTarget', params);
    const {sessionId} = await this.send('Target.attachToTarget', {targetId, flatten: true});
    const page = new Page(this, sessionId);
    await this.send('Target.activateTarget', {targetId});  // a background tab gets no animation frames
    await page.send('Runtime.enable');
    await page.send('Page.enable');
    await page.send('Log.enable');
    await page.send('Emulation.setDeviceMetricsOverride', {width: 1400, height: 1000, deviceScaleFactor: 1, mobile: false});
    return page;
  }

  // Closes the browser and waits (at most 5 s) until its process has exited.
  async close() {
    const exited = this.proc.exitCode !== null ? Promise.resolve() : new Promise((r) => this.proc.once('exit', r));
    try { await Promise.race([this.send('Browser.close'), new Promise((r) => setTimeout(r, 2000))]); } catch { /* gone */ }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    this.proc.kill('SIGKILL');
  }
}

export class Page {
  constructor(browser, sessionId) {
    this.browser = browser;
    this.sessionId = sessionId;
    this.messages = [];  // console messages, exceptions and log entries: {level, text}
    browser.on((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Runtime.consoleAPICalled') {
        this.messages.push({level: m.params.type, text: m.params.args.map((a) => a.value ?? a.description ?? '').join(' ')});
      } else if (m.method === 'Runtime.exceptionThrown') {
        const d = m.params.exceptionDetails;
        this.messages.push({level: 'exception', text: (d.exception && d.exception.description) || d.text});
      } else if (m.method === 'Log.entryAdded') {
        this.messages.push({level: m.params.entry.level, text: `${m.params.entry.source}: ${m.params.entry.text} ${m.params.entry.url || ''}`});
      }
    });
  }

  send(method, params = {}) { return this.browser.send(method, params, this.sessionId); }

  async goto(url) { await this.send('Page.navigate', {url}); }

  // Evaluates `expression` in the page (awaiting a promise) and returns its value.
  async eval(expression) {
    const r = await this.send('Runtime.evaluate', {expression, awaitPromise: true, returnByValue: true});
    if (r.exceptionDetails) throw new Error(`${expression}: ${(r.exceptionDetails.exception || {}).description || r.exceptionDetails.text}`);
    return r.result.value;
  }

  // Polls `expression` every `every` ms until it is truthy (returns it) or `ms` pass (throws
  // naming `what`).
  async waitFor(what, expression, ms = 10000, every = 50) {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
      try { last = await this.eval(expression); } catch (e) { last = e.message; }
      if (last) return last;
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (${expression})`);
      await new Promise((r) => setTimeout(r, every));
    }
  }

  // Answers the page's requests under `prefix` (e.g. http://127.0.0.1:8443/console/) with the
  // files of directory `dir` instead of the server's (the DevTools protocol's Fetch domain), so
  // that a console change can be run against another server binary without rebuilding it.
  async serveFrom(prefix, dir) {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const types = {'.html': 'text/html', '.css': 'text/css', '.js': 'text/javascript'};
    this.browser.on((m) => {
      if (m.sessionId !== this.sessionId || m.method !== 'Fetch.requestPaused') return;
      const file = new URL(m.params.request.url).pathname.replace(new URL(prefix).pathname, '') || 'index.html';
      const body = fs.readFileSync(path.join(dir, file));
      this.send('Fetch.fulfillRequest', {requestId: m.params.requestId, responseCode: 200, body: body.toString('base64'),
        responseHeaders: [{name: 'Content-Type', value: types[path.extname(file)] || 'application/octet-stream'}]});
    });
    await this.send('Fetch.enable', {patterns: [{urlPattern: `${prefix}*`}]});
  }

  async screenshot(path) {
    const {data} = await this.send('Page.captureScreenshot', {format: 'png', captureBeyondViewport: true});
    const fs = await import('node:fs');
    fs.writeFileSync(path, Buffer.from(data, 'base64'));
  }
}
