// The console's fleet view at scale, in headless Chromium (issue 21): a real
// federation-apiserver (--controllers CONTROLLERS, default none, on a temporary SQLite store) loaded with
// N_MEMBERS MemberClusters on six continents (3 zones each, Ready) and N_WORKLOADS
// FederatedWorkloads (each placed on 3 members, with ready replicas), then the console signs in
// and the browser's performance API says how long from sign-in to the first complete fleet
// view (all members and workloads listed and drawn), and how long each redraw takes while
// RATE member status changes per second arrive through the watch for SECONDS.
//
//   node bench/console/fleet_bench.mjs   # env: BIN (default build/bin), N_MEMBERS=1000,
//                                        # N_WORKLOADS=10000, RATE=100, SECONDS=10, CONSOLE,
//                                        # CONTROLLERS (default none)
//
// CONTROLLERS=member-summary runs the controller that sums the workloads into each member's
// status.workloadSummary, which is what the fleet view reads since it stopped listing the
// workloads; the bench then waits for every member's summary to add up before signing in (a
// fleet in its steady state).
//
// CONSOLE=DIR (e.g. CONSOLE=console) makes the browser load the console's files from DIR
// instead of the server's embedded copy (answered through the DevTools protocol), so that a
// change to the console is measured against the same optimised server binary, without an
// -O2 rebuild; the API the page talks to is the server's either way.
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {Browser} from '../../test/e2e/console/cdp.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.BIN || path.join(here, '../../build/bin');
const N_MEMBERS = Number(process.env.N_MEMBERS || 1000), N_WORKLOADS = Number(process.env.N_WORKLOADS || 10000);
const RATE = Number(process.env.RATE || 100), SECONDS = Number(process.env.SECONDS || 10);
const CONTROLLERS = process.env.CONTROLLERS || 'none';
const G = '/apis/federation.meridian.io/v1alpha1';
const CONTINENTS = ['north-america', 'europe', 'asia', 'south-america', 'africa', 'oceania'];
const t0 = Date.now();
const log = (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);

// The store on tmpfs when there is one: fsync per write is not what is measured here.
const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'meridian-console-bench-'));
const api = spawn(`${BIN}/federation-apiserver`, ['--listen', '127.0.0.1:0', '--storage', `sqlite:${dir}/fed.db`,
  '--controllers', CONTROLLERS, '--max-requests-inflight', '0'], {stdio: ['ignore', 'pipe', 'inherit']});
const url = await new Promise((resolve, reject) => {
  let out = '';
  api.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/federation-apiserver listening on (\S+)/);
    if (m) resolve(m[1]);
  });
  api.on('exit', (c) => reject(new Error(`federation-apiserver exited ${c}: ${out}`)));
});
log(`federation-apiserver at ${url}`);

async function call(method, p, body, type = 'application/json') {
  const r = await fetch(url + p, {method, headers: {'Content-Type': type}, body: body && JSON.stringify(body)});
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
  return r.json();
}
// Runs `fn(i)` for i < n, `width` at a time.
async function pool(n, width, fn) {
  let next = 0;
  await Promise.all(Array.from({length: width}, async () => { while (next < n) await fn(next++); }));
}

const member = (i) => `m${String(i).padStart(4, '0')}`;
const regionOf = (i) => `${CONTINENTS[i % 6].split('-').map((w) => w[0]).join('')}-r${Math.floor(i / 6) % 25}`;
const zones = (i) => ['a', 'b', 'c'].map((z) => `${member(i)}-${z}`);
const memberStatus = (i, failing) => ({status: {
  conditions: [{type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: new Date().toISOString()}],
  zones: zones(i).map((z, k) => ({name: z, healthy: !(failing && k === 0)})),
}});

async function load() {
  const ns = Array.from({length: 10}, (_, k) => `team-${k}`);
  for (const n of ns) await call('POST', '/api/v1/namespaces', {apiVersion: 'v1', kind: 'Namespace', metadata: {name: n}});
  await pool(N_MEMBERS, 16, async (i) => {
    await call('POST', `${G}/memberclusters`, {apiVersion: 'federation.meridian.io/v1alpha1', kind: 'MemberCluster',
      metadata: {name: member(i), labels: {continent: CONTINENTS[i % 6]}},
      spec: {server: `https://${member(i)}.example:6443`, region: regionOf(i), zones: zones(i), jurisdiction: CONTINENTS[i % 6].slice(0, 2)}});
    await call('PATCH', `${G}/memberclusters/${member(i)}/status`, memberStatus(i, false), 'application/merge-patch+json');
  });
  log(`${N_MEMBERS} members`);
  await pool(N_WORKLOADS, 16, async (i) => {
    const n = ns[i % ns.length], name = `w${i}`;
    await call('POST', `${G}/namespaces/${n}/federatedworkloads`, {apiVersion: 'federation.meridian.io/v1alpha1', kind: 'FederatedWorkload',
      metadata: {name, namespace: n},
      spec: {template: {apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name},
        spec: {replicas: 6, selector: {matchLabels: {app: name}}, template: {metadata: {labels: {app: name}},
          spec: {containers: [{name: 'c', image: 'registry.example/app:1'}]}}}}}});
    const clusters = [0, 1, 2].map((k) => member((i * 7 + k * 331) % N_MEMBERS));
    await call('PATCH', `${G}/namespaces/${n}/federatedworkloads/${name}/status`, {status: {
      desiredReplicas: 6, readyReplicas: 6,
      placement: clusters.map((c) => ({cluster: c, replicas: 2})),
      clusters: clusters.map((c) => ({cluster: c, readyReplicas: 2, synced: true}))}}, 'application/merge-patch+json');
    if (i % 2000 === 1999) log(`${i + 1} workloads`);
  });
}

// Until every member's status.workloadSummary adds up to the workloads loaded (each places
// 2 replicas on 3 members, all ready).
async function summarised() {
  for (;;) {
    const items = (await call('GET', `${G}/memberclusters`)).items;
    const s = items.filter((m) => m.status && m.status.workloadSummary);
    const desired = s.reduce((n, m) => n + m.status.workloadSummary.desiredReplicas, 0);
    const ready = s.reduce((n, m) => n + m.status.workloadSummary.readyReplicas, 0);
    if (s.length === N_MEMBERS && desired === 6 * N_WORKLOADS && ready === desired) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

let browser;
try {
  await load();
  if (CONTROLLERS.includes('member-summary')) {
    await summarised();
    log('every member summarised');
  }
  const profile = fs.mkdtempSync(path.join(dir, 'profile-'));
  browser = await Browser.launch(process.env.CHROMIUM || '/usr/bin/chromium', profile);
  const page = await browser.newPage();
  if (process.env.CONSOLE) await page.serveFrom(`${url}/console/`, process.env.CONSOLE);
  await page.goto(`${url}/console/`);
  await page.waitFor('the sign-in form', `document.querySelector('#token') !== null`);
  await page.eval(`(() => { const t = document.querySelector('#token'); t.value = 'bench'; t.form.requestSubmit(); return true; })()`);
  await page.waitFor('the fleet view complete', `performance.getEntriesByName('meridian:fleet-ready').length === 1`, 60000, 100)
    .catch((e) => { throw new Error(`${e.message}; page messages: ${JSON.stringify(page.messages.slice(0, 5))}`); });
  const ready = await page.eval(`performance.getEntriesByName('meridian:fleet-ready')[0].startTime - performance.getEntriesByName('meridian:signin')[0].startTime`);
  const shown = await page.eval(`document.querySelectorAll('[data-member]').length`);
  const breakdown = await page.eval(`(() => {
      const since = performance.getEntriesByName('meridian:signin')[0].startTime;
      const at = (n) => Math.round(performance.getEntriesByName(n)[0].startTime - since);
      // A LIST is one request or several pages (?limit=...&continue=...); not the watches.
      const list = (kind) => performance.getEntriesByType('resource').filter((e) => {
        const u = new URL(e.name);
        return u.pathname.endsWith('/' + kind) && !u.searchParams.has('watch');
      });
      const timing = (es) => es.length ? Math.round(es[0].startTime - since) + '-' + Math.round(es[es.length - 1].responseEnd - since) +
                                 ' ms, ' + es.length + ' request(s), ' + Math.round(es.reduce((n, e) => n + e.encodedBodySize, 0) / 1024) + ' KiB' : 'n/a';
      const draws = performance.getEntriesByName('meridian:fleet-draw').map((e) => Math.round(e.duration));
      return 'members drawn at ' + at('meridian:fleet-members') + ' ms; LIST memberclusters ' + timing(list('memberclusters')) +
             '; LIST federatedworkloads ' + timing(list('federatedworkloads')) + '; draws ' + draws.join(', ') + ' ms';
    })()`);
  log(`sign-in to complete fleet view: ${ready.toFixed(0)} ms (${shown} members drawn); ${breakdown}`);

  // RATE status changes per second through the API (a zone failing and healing), while the
  // page records its redraws and long tasks.
  await page.eval(`(window.__long = [], new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({type: 'longtask'}), performance.clearMeasures('meridian:fleet-draw'), true)`);
  const until = Date.now() + SECONDS * 1000;
  let sent = 0;
  const probes = [];
  const probe = setInterval(async () => {  // responsiveness: a round trip through the page's main thread
    const s = Date.now();
    await page.eval('1');
    probes.push(Date.now() - s);
  }, 250);
  while (Date.now() < until) {
    const tick = Date.now();
    await pool(RATE / 10, RATE / 10, async () => {
      const i = (sent * 37) % N_MEMBERS;
      sent++;
      await call('PATCH', `${G}/memberclusters/${member(i)}/status`, memberStatus(i, sent % 2 === 0), 'application/merge-patch+json');
    });
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tick))));
  }
  clearInterval(probe);
  await new Promise((r) => setTimeout(r, 500));
  const draws = await page.eval(`performance.getEntriesByName('meridian:fleet-draw').map((e) => e.duration)`);
  const longTasks = await page.eval('window.__long');
  const pct = (a, p) => (a.length ? [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))] : 0);
  log(`${sent} changes in ${SECONDS} s (${(sent / SECONDS).toFixed(0)}/s): ${draws.length} redraws, ` +
      `redraw p50 ${pct(draws, 0.5).toFixed(0)} ms, p95 ${pct(draws, 0.95).toFixed(0)} ms, max ${Math.max(0, ...draws).toFixed(0)} ms; ` +
      `long tasks ${longTasks.length} (max ${Math.max(0, ...longTasks).toFixed(0)} ms); ` +
      `main-thread round trip p50 ${pct(probes, 0.5)} ms, p95 ${pct(probes, 0.95)} ms, max ${Math.max(0, ...probes)} ms`);
  const errors = page.messages.filter((m) => ['error', 'exception'].includes(m.level));
  if (errors.length) log(`console errors: ${JSON.stringify(errors.slice(0, 3))}`);
} finally {
  if (browser) await browser.close();
  api.kill('SIGTERM');
  fs.rmSync(dir, {recursive: true, force: true, maxRetries: 5});
}
