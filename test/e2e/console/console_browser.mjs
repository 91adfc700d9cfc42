// The web console in headless Chromium against a running federation (started by
// test/e2e/console_test.cc): sign in with a token; the fleet view shows the five demo members
// on three continents; a region failed in membersim turns red; the workload list and page; a
// declared drill started from the form (with its what-if confirmation), its live chart moving,
// aborted, its report (saved to OUT_DIR/drill-report.txt, with the drill's name in
// drill-name.txt, for console_test.cc to compare with `fedctl drill report`); the residency
// page's evidence ledger sealed by a signed checkpoint; the fleet view's replicas from the
// members alone (no workload LIST); the compliance report downloaded from the residency page's
// links (JSON and HTML) is what `fedctl residency report` prints for the same period, byte for
// byte; a view-only user sees no drill form and no report link, and gets the API's 403 for
// both; no console errors. Screenshots of every view go to OUT_DIR (and DOCS_DIR when set).
//
// Environment: CONSOLE_URL, ADMIN_TOKEN, VIEW_TOKEN, SIM_URL (membersim's admin API), OUT_DIR,
// FEDCTL (the fedctl binary),
// CHROMIUM (default /usr/bin/chromium), DOCS_DIR (optional), CONSOLE_DIR (optional: the
// console's files from this directory instead of the server's embedded copy).
// Exit code 0 when every check passed; otherwise the first failure is printed.
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {Browser} from './cdp.mjs';

const env = (k, d) => process.env[k] || d || (() => { throw new Error(`${k} is not set`); })();
const url = env('CONSOLE_URL'), admin = env('ADMIN_TOKEN'), viewer = env('VIEW_TOKEN'), sim = env('SIM_URL');
const out = env('OUT_DIR'), docs = process.env.DOCS_DIR, fedctl = env('FEDCTL');
const apiUrl = new URL(url).origin;
fs.mkdirSync(out, {recursive: true});
const t0 = Date.now();
const log = (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
function check(ok, message) {
  if (!ok) throw new Error(`check failed: ${message}`);
}

async function shot(page, name) {
  const file = path.join(out, `${name}.png`);
  await page.screenshot(file);
  if (docs) fs.copyFileSync(file, path.join(docs, `${name}.png`));
  log(`screenshot ${file}`);
}

async function simPost(p, body) {
  const r = await fetch(`${sim}${p}`, {method: 'POST', body: body ? JSON.stringify(body) : undefined});
  check(r.ok, `membersim POST ${p}: HTTP ${r.status} ${await r.text()}`);
}

const js = JSON.stringify;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Clicks `selector` and returns the file the browser saved into `dir` (Browser.setDownloadBehavior).
async function download(page, dir, selector) {
  const before = new Set(fs.readdirSync(dir));
  await page.eval(`document.querySelector(${js(selector)}).click(), true`);
  for (const deadline = Date.now() + 15000; Date.now() < deadline; await sleep(100)) {
    const fresh = fs.readdirSync(dir).filter((f) => !before.has(f) && !f.endsWith('.crdownload'));
    if (fresh.length) return {name: fresh[0], content: fs.readFileSync(path.join(dir, fresh[0]), 'utf8')};
  }
  throw new Error(`check failed: nothing was downloaded from ${selector}`);
}

// `fedctl residency report` for the period from .. to (RFC 3339, whole seconds) in `format`.
function fedctlReport(from, to, format) {
  const since = Math.round((Date.parse(to) - Date.parse(from)) / 1000);
  return execFileSync(fedctl, ['--server', apiUrl, '--token', admin, 'residency', 'report',
                               '--since', `${since}s`, '--until', to, '-o', format], {encoding: 'utf8'});
}

// The residency page's report links: each download equals fedctl's report for the period the
// download names, byte for byte. The report also states the chain as read (entries, head), so
// when the ledger moved between the two reads (an audit heartbeat, a checkpoint) both are
// taken again; any other difference fails at once.
async function checkReportDownloads(page, dir) {
  const periodOf = {
    json: (text) => { const j = JSON.parse(text); return [j.from, j.to]; },
    html: (text) => (text.match(/Period: (\S+) \.\. (\S+) \(/) || []).slice(1),
  };
  const evidenceOf = {
    json: (text) => js(JSON.parse(text).evidence),
    html: (text) => (text.match(/Evidence: [^<]*/) || [''])[0],
  };
  for (const format of ['json', 'html']) {
    for (let attempt = 1; ; ++attempt) {
      const file = await download(page, dir, `#compliance-report-${format}`);
      const [from, to] = periodOf[format](file.content);
      check(from && to, `the downloaded ${format} report names no period: ${file.content.slice(0, 300)}`);
      const printed = fedctlReport(from, to, format);
      if (printed === file.content) {
        fs.writeFileSync(path.join(out, `compliance-report.${format}`), file.content);
        log(`compliance report ${file.name} (${from} .. ${to}) = fedctl residency report -o ${format}, ${printed.length} bytes`);
        break;
      }
      const moved = evidenceOf[format](printed) !== evidenceOf[format](file.content);
      if (!moved || attempt === 5) {
        fs.writeFileSync(path.join(out, `compliance-report-console.${format}`), file.content);
        fs.writeFileSync(path.join(out, `compliance-report-fedctl.${format}`), printed);
        check(false, `the downloaded ${format} report differs from fedctl's (${moved ? 'the ledger kept moving' : 'same ledger'}; both saved in ${out})`);
      }
      log(`the ledger moved between the ${format} download and fedctl (attempt ${attempt}): again`);
      await sleep(1000);
    }
  }
}

async function signIn(page, token) {
  await page.goto(url);
  await page.waitFor('the sign-in form', `document.querySelector('#token') !== null`);
  await page.eval(`(() => { const t = document.querySelector('#token'); t.value = ${js(token)};
                           t.form.requestSubmit(); return true; })()`);
  await page.waitFor('the signed-in header', `document.querySelector('#whoami').textContent.startsWith('Signed in as')`);
}

async function main() {
  // Whatever happens, the test ends: 90 s is three times a slow run.
  setTimeout(() => { console.error('watchdog: the browser test took over 120 s'); process.exit(2); }, 120000).unref();
  const profile = fs.mkdtempSync(path.join(out, 'profile-'));
  const browser = await Browser.launch(env('CHROMIUM', '/usr/bin/chromium'), profile);
  try {
    const page = await browser.newPage();
    if (process.env.CONSOLE_DIR) await page.serveFrom(url, process.env.CONSOLE_DIR);
    await page.goto(url);
    await page.waitFor('the sign-in form', `document.querySelector('#token') !== null`);
    await shot(page, 'console-login');

    // Fleet: five members, three continents.
    await signIn(page, admin);
    log('signed in as admin');
    await page.waitFor('five members in the fleet view', `document.querySelectorAll('[data-member]').length === 5`);
    const continents = await page.eval(`[...document.querySelectorAll('.continent')].map((c) => c.dataset.continent + ':' +
        [...c.querySelectorAll('[data-member]')].map((m) => m.dataset.member).sort().join(',')).join(' ')`);
    check(continents === 'north-america:us-east-1,us-west-1 europe:eu-central-1,eu-west-1 asia:ap-south-1',
          `members by continent: ${continents}`);
    // Replicas from the members' status.workloadSummary (the member-summary controller): the
    // fleet view reads the members alone and never lists the workloads.
    await page.waitFor('replicas ready in the fleet view', `/ready [1-9]\\d* \\/ desired [1-9]/.test(document.querySelector('[data-region="us-west"] .muted').textContent)`, 15000);
    const memberReplicas = await page.eval(`document.querySelector('[data-member="us-east-1"] [data-replicas]').textContent`);
    check(/^[1-9]\d* workload\(s\) · ready \d+ \/ desired [1-9]/.test(memberReplicas), `us-east-1 replicas: ${memberReplicas}`);
    const workloadLists = await page.eval(`performance.getEntriesByType('resource').filter((e) => e.name.includes('/federatedworkloads')).length`);
    check(workloadLists === 0, `the fleet view requested the workloads ${workloadLists} time(s)`);
    await shot(page, 'console-fleet');

    // A region fails in membersim: the console shows it red within 2 s.
    const failedAt = Date.now();
    await simPost('/admin/regions/us-west/fail', {mode: 'refuse'});
    await page.waitFor('region us-west red', `(() => {
        const r = document.querySelector('[data-region="us-west"]');
        return r && r.dataset.state === 'failing' && getComputedStyle(r).borderTopColor === 'rgb(164, 22, 26)';
      })()`, 2000, 20);
    const red = Date.now() - failedAt;
    log(`us-west red ${red} ms after membersim failed it`);
    await shot(page, 'console-fleet-failing');
    await simPost('/admin/regions/us-west/heal');
    await page.waitFor('region us-west healthy again', `document.querySelector('[data-region="us-west"]').dataset.state === 'healthy'`, 10000);

    // Workloads.
    await page.goto(`${url}#/workloads`);
    await page.waitFor('shop/web in the workload list', `document.querySelector('[data-workload="shop/web"]') !== null`);
    await page.waitFor('payments/ledger with its residency badge',
                       `(document.querySelector('[data-workload="payments/ledger"] .badge.residency') || {}).textContent === 'resident: eu'`);
    await shot(page, 'console-workloads');
    await page.goto(`${url}#/workloads/shop/web`);
    await page.waitFor('the placement of shop/web', `document.querySelectorAll('[data-cluster]').length === 5`);
    const reasons = await page.eval(`[...document.querySelectorAll('[data-cluster] td:last-child')].map((t) => t.textContent).join(' | ')`);
    check(reasons.includes('Placed'), `placement reasons: ${reasons}`);
    // The clusters holding nothing come from status.explanation.notPlaced (one line per reason).
    await page.goto(`${url}#/workloads/payments/ledger`);
    await page.waitFor('the members residency keeps payments/ledger out of',
                       `[...document.querySelectorAll('[data-cluster] td:last-child')].some((t) => /ExcludedByResidency.*: 0; excluded by residency/.test(t.textContent))`);
    await page.goto(`${url}#/workloads/shop/web`);
    await page.waitFor('the placement of shop/web again', `document.querySelectorAll('[data-cluster]').length === 5`);
    await page.waitFor('the DNS name', `document.querySelector('main code') && document.querySelector('main code').textContent === 'web.global.example.com'`);
    await shot(page, 'console-workload');

    // Residency.
    await page.goto(`${url}#/residency`);
    await page.waitFor('the residency policy', `document.body.textContent.includes('payments-eu-only')`);
    // The evidence ledger: the server (--evidence-signing-key-file) has verified and signed it
    // up to a checkpoint; the console reads the head and that checkpoint.
    await page.waitFor('the evidence ledger sealed by a signed checkpoint',
                       `['sealed', 'sealed-partly'].includes((document.querySelector('#ledger-state') || {dataset: {}}).dataset.verification)`, 15000);
    const ledger = await page.eval(`document.querySelector('#ledger-state').textContent`);
    check(/Entries[1-9]/.test(ledger) && /through entry [1-9]\d* by checkpoint/.test(ledger) && ledger.includes('Ed25519'), `ledger state: ${ledger}`);
    await shot(page, 'console-residency');

    // A declared drill from the form: what-if confirmation, live chart, abort, report.
    await page.goto(`${url}#/drills`);
    await page.waitFor('the drill form', `document.querySelector('#drill-form') !== null &&
                                         document.querySelector('#target-value option[value="eu-west"]') !== null`);
    const countDrills = () => page.eval(`(async () => {
        const {Api} = await import('./js/api.js');
        const api = new Api(sessionStorage.getItem('meridian.console.token'));
        return (await api.get('/apis/federation.meridian.io/v1alpha1/failoverdrills')).items.length; })()`);
    const drillsBeforeReview = await countDrills();
    await page.eval(`(() => { document.querySelector('#target-kind').value = 'region';
        document.querySelector('#target-value').value = 'eu-west';
        document.querySelector('#drill-mode').value = 'declared';
        document.querySelector('#drill-duration').value = '60';
        document.querySelector('#drill-form').requestSubmit(); return true; })()`);
    await page.waitFor('the confirmation', `document.querySelector('#drill-start') !== null`, 15000);
    const confirmText = await page.eval(`document.querySelector('#drill-confirm').textContent`);
    check(confirmText.includes('eu-west-1') && confirmText.includes('shop/web'), `confirmation: ${confirmText}`);
    // The what-if is a WhatIfReview, answered and never stored: looking creates no drill.
    const drillsAfterReview = await countDrills();
    check(drillsAfterReview === drillsBeforeReview,
          `the what-if stored FailoverDrills: ${drillsBeforeReview} before, ${drillsAfterReview} after`);
    await shot(page, 'console-drill-confirm');
    await page.eval(`document.querySelector('#drill-start').click(), true`);
    await page.waitFor('the drill page', `location.hash.startsWith('#/drills/drill-eu-west-')`);
    const drill = await page.eval(`decodeURIComponent(location.hash.slice('#/drills/'.length))`);
    log(`drill ${drill} started`);
    const samples = () => page.eval(`Number((document.querySelector('svg.drill-chart') || {dataset: {}}).dataset.samples || 0)`);
    await page.waitFor('the chart to draw samples', `Number(document.querySelector('svg.drill-chart').dataset.samples) >= 2`, 10000);
    const first = await samples();
    await page.waitFor('the chart to move', `Number(document.querySelector('svg.drill-chart').dataset.samples) > ${first}`, 5000);
    await page.waitFor('a region line', `document.querySelectorAll('svg.drill-chart polyline.series').length >= 3`);
    await shot(page, 'console-drill-running');
    await page.eval(`document.querySelector('#drill-abort').click(), true`);
    await page.waitFor('the drill to end aborted', `(document.querySelector('[data-phase]') || {dataset: {}}).dataset.phase === 'Aborted'`, 10000);
    await page.waitFor('the report', `document.querySelector('#drill-report-text') !== null &&
                                     document.querySelector('#drill-report-text').textContent.includes('time to detect:') &&
                                     document.querySelector('#drill-report-text').textContent.includes('Aborted on request')`);
    await page.waitFor('the aborted marker', `document.querySelector('line.marker[data-event="ABORTED"]') !== null`);
    // The report's text and the download link's are what `fedctl drill report` prints:
    // console_test.cc compares the saved text with fedctl's byte for byte, once the report is
    // final (the drill keeps sampling after the abort until the replicas are back on the target).
    try {
      await page.waitFor('the return to the target observed to its end',
                         `/return to the target: +(replicas back|not back|nothing was on|not observed)/.test(document.querySelector('#drill-report-text').textContent)`, 30000);
    } catch (e) {
      // What the server's record and the page said, to tell a drill that stopped watching from
      // a page that stopped updating.
      const state = await page.eval(`(async () => {
          const {Api} = await import('./js/api.js');
          const api = new Api(sessionStorage.getItem('meridian.console.token'));
          const d = await api.get('/apis/federation.meridian.io/v1alpha1/failoverdrills/${drill}');
          const r = (d.status || {}).report || {};
          return JSON.stringify({phase: (d.status || {}).phase, returnObservation: r.returnObservation,
                                 returnProgress: r.returnProgress, returnObservedUntilMs: r.returnObservedUntilMs,
                                 samples: (r.timeline || []).length}); })()`).catch((x) => x.message);
      log(`the drill on the server: ${state}`);
      log(`the page's report: ${await page.eval(`(document.querySelector('#drill-report-text') || {}).textContent`).catch((x) => x.message)}`);
      throw e;
    }
    const reportText = await page.eval(`document.querySelector('#drill-report-text').textContent`);
    // (Decoded here, not fetched: the page's Content-Security-Policy allows no data: fetch.)
    const downloaded = await page.eval(`(() => { const href = document.querySelector('#drill-report-download').href;
                                                 return decodeURIComponent(href.slice(href.indexOf(',') + 1)); })()`);
    check(downloaded === reportText, 'the downloaded report differs from the page');
    fs.writeFileSync(path.join(out, 'drill-report.txt'), reportText);
    fs.writeFileSync(path.join(out, 'drill-name.txt'), drill);
    await page.eval(`document.querySelector('#drill-report').scrollIntoView(), true`);
    await shot(page, 'console-drill-report');

    // The compliance report: downloaded from the residency page (HTML and JSON) and compared
    // with fedctl's for the same period.
    const downloads = fs.mkdtempSync(path.join(out, 'downloads-'));
    await browser.send('Browser.setDownloadBehavior', {behavior: 'allow', downloadPath: downloads});
    await page.goto(`${url}#/residency`);
    await page.waitFor('the compliance report links', `document.querySelector('#compliance-report-json') !== null &&
                                                      document.querySelector('#compliance-report-html') !== null`);
    await checkReportDownloads(page, downloads);
    const html = fs.readFileSync(path.join(out, 'compliance-report.html'), 'utf8');
    check(html.startsWith('<!DOCTYPE html>') && html.includes('Workload payments/ledger'), 'the HTML report names payments/ledger');
    fs.rmSync(downloads, {recursive: true, force: true});

    const adminErrors = page.messages.filter((m) => ['error', 'exception', 'assert'].includes(m.level));
    check(adminErrors.length === 0, `console errors: ${js(adminErrors)}`);

    // A view-only user: no drill form, and the API answers 403 when it tries anyway.
    log('admin part passed; the view user');
    await page.send('Page.close').catch(() => {});
    const viewPage = await browser.newPage(/*isolated=*/true);
    if (process.env.CONSOLE_DIR) await viewPage.serveFrom(url, process.env.CONSOLE_DIR);
    await signIn(viewPage, viewer);
    log('signed in as viewer');
    await viewPage.eval(`location.hash = '#/drills', true`);
    log('viewer: drills');
    await viewPage.waitFor('the drill list', `document.querySelector('[data-drill]') !== null`);
    check(await viewPage.eval(`document.querySelector('#drill-form') === null && document.querySelector('#no-drill-form') !== null`),
          'a view user sees no drill form');
    await viewPage.eval(`location.hash = '#/fleet', true`);
    await viewPage.waitFor('five members for the view user', `document.querySelectorAll('[data-member]').length === 5`);
    const denied = await viewPage.eval(`(async () => {
        const {Api} = await import('./js/api.js');
        const api = new Api(sessionStorage.getItem('meridian.console.token'));
        try { await api.post('/apis/federation.meridian.io/v1alpha1/failoverdrills',
                             {apiVersion: 'federation.meridian.io/v1alpha1', kind: 'FailoverDrill', metadata: {name: 'not-allowed'},
                              spec: {mode: 'live', target: {region: 'eu-west'}, durationSeconds: 10}});
              return 'created'; } catch (e) { return e.code + ' ' + e.message; } })()`);
    check(denied.startsWith('403 '), `a view user's drill create: ${denied}`);
    log(`view user: ${denied}`);
    await viewPage.goto(`${url}#/drills`);
    await viewPage.waitFor('the drill list', `document.querySelector('#no-drill-form') !== null`);
    await shot(viewPage, 'console-drills-view-user');
    // No report link for a user who may not read the ledger, and the API refuses the review.
    await viewPage.eval(`location.hash = '#/residency', true`);
    await viewPage.waitFor('the residency page without a report link', `document.querySelector('#no-compliance-report') !== null`);
    check(await viewPage.eval(`document.querySelector('#compliance-report-json') === null && document.querySelector('#compliance-report-html') === null`),
          'a view user sees no compliance report link');
    const reportDenied = await viewPage.eval(`(async () => {
        const {Api} = await import('./js/api.js');
        const api = new Api(sessionStorage.getItem('meridian.console.token'));
        try { await api.post('/apis/federation.meridian.io/v1alpha1/compliancereviews',
                             {apiVersion: 'federation.meridian.io/v1alpha1', kind: 'ComplianceReview', spec: {format: 'json'}});
              return 'answered'; } catch (e) { return e.code + ' ' + e.message; } })()`);
    check(reportDenied.startsWith('403 ') && reportDenied.includes('residencyevidences'), `a view user's compliance review: ${reportDenied}`);
    log(`view user: ${reportDenied}`);
    // The only errors allowed are the network log lines of what the API refused: the drill
    // create, the compliance review and the ledger reads of the residency page.
    const refused = ['failoverdrills', 'compliancereviews', 'residencyevidences'];
    const viewErrors = viewPage.messages.filter((m) => ['error', 'exception', 'assert'].includes(m.level) &&
                                                      !(m.text.includes('403') && refused.some((r) => m.text.includes(r))));
    check(viewErrors.length === 0, `console errors (view user): ${js(viewErrors)}`);
    log(`passed; red after ${red} ms`);
    console.log(`RESULT red_ms=${red}`);
  } finally {
    await browser.close();
    try { fs.rmSync(profile, {recursive: true, force: true, maxRetries: 5}); } catch (e) { log(`left ${profile}: ${e.message}`); }
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
