// Drill reports in headless Chromium (test/e2e/drill_test.cc): each HTML report (`fedctl drill
// report NAME -o html`) is opened from its file:// URL and must load without a console error,
// an uncaught exception or a failed load, with its timeline chart drawn (an inline SVG in
// figure.timeline, laid out at a non-zero size, with a line per region); each SVG chart (`-o
// svg`) must be well-formed XML whose root is an SVG element (Chromium's own XML parser, via
// DOMParser: a parse error yields a <parsererror> document).
//
// Usage: node report_browser.mjs [--html FILE]... [--svg FILE]...
// Environment: OUT_DIR (the browser profile goes there), CHROMIUM (default /usr/bin/chromium).
// Prints one line per file checked; exit code 0 when every check passed, else the first
// failure is printed.
import fs from 'node:fs';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {Browser} from './cdp.mjs';

const out = process.env.OUT_DIR || (() => { throw new Error('OUT_DIR is not set'); })();
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';

function parseArgs(argv) {
  const files = {html: [], svg: []};
  for (let i = 0; i < argv.length; i += 2) {
    const kind = argv[i].replace(/^--/, '');
    if (!(kind in files) || i + 1 >= argv.length) throw new Error(`usage: [--html FILE]... [--svg FILE]... (at "${argv[i]}")`);
    files[kind].push(path.resolve(argv[i + 1]));
  }
  if (files.html.length + files.svg.length === 0) throw new Error('no --html or --svg file given');
  return files;
}

function check(ok, message) {
  if (!ok) throw new Error(`check failed: ${message}`);
}

const errorsOf = (page) => page.messages.filter((m) => ['error', 'exception', 'assert'].includes(m.level));

async function checkHtml(browser, file) {
  const page = await browser.newPage(/*isolated=*/true);
  await page.goto(pathToFileURL(file).href);
  await page.waitFor(`${file} to load`, `document.readyState === 'complete' && location.protocol === 'file:'`);
  const chart = await page.eval(`(() => {
      const svg = document.querySelector('figure.timeline svg');
      if (!svg) return null;
      const box = svg.getBoundingClientRect();
      return {width: box.width, height: box.height, regions: svg.querySelectorAll('[data-region]').length,
              title: (svg.querySelector('title') || {}).textContent || '',
              report: (document.querySelector('pre.report') || {}).textContent || ''};
    })()`);
  check(chart !== null, `${file}: no timeline chart (figure.timeline svg)`);
  check(chart.width > 0 && chart.height > 0, `${file}: the chart is not laid out (${chart.width}x${chart.height})`);
  check(chart.regions >= 1, `${file}: the chart has no region line`);
  check(chart.report.includes('Drill'), `${file}: no text report under the chart`);
  // Late errors (a script, an image) get a moment to be reported.
  await new Promise((r) => setTimeout(r, 200));
  const errors = errorsOf(page);
  check(errors.length === 0, `${file}: console errors: ${JSON.stringify(errors)}`);
  await page.send('Page.close').catch(() => {});
  console.log(`ok html ${file}: chart ${chart.width}x${chart.height}, ${chart.regions} region elements, "${chart.title}"`);
}

async function checkSvg(browser, file) {
  const page = await browser.newPage(/*isolated=*/true);
  const text = fs.readFileSync(file, 'utf8');
  const parsed = await page.eval(`(() => {
      const doc = new DOMParser().parseFromString(${JSON.stringify(text)}, 'image/svg+xml');
      const error = doc.querySelector('parsererror');
      return {error: error ? error.textContent : null, root: doc.documentElement.localName,
              ns: doc.documentElement.namespaceURI};
    })()`);
  check(parsed.error === null, `${file}: not well-formed XML: ${parsed.error}`);
  check(parsed.root === 'svg' && parsed.ns === 'http://www.w3.org/2000/svg',
        `${file}: the root is {${parsed.ns}}${parsed.root}, not an SVG element`);
  const errors = errorsOf(page);
  check(errors.length === 0, `${file}: console errors: ${JSON.stringify(errors)}`);
  await page.send('Page.close').catch(() => {});
  console.log(`ok svg ${file}: well-formed, root <svg>`);
}

async function main() {
  setTimeout(() => { console.error('watchdog: the report check took over 60 s'); process.exit(2); }, 60000).unref();
  const files = parseArgs(process.argv.slice(2));
  fs.mkdirSync(out, {recursive: true});
  const profile = fs.mkdtempSync(path.join(out, 'profile-'));
  const browser = await Browser.launch(chromium, profile);
  try {
    for (const f of files.html) await checkHtml(browser, f);
    for (const f of files.svg) await checkSvg(browser, f);
  } finally {
    await browser.close();
    try { fs.rmSync(profile, {recursive: true, force: true, maxRetries: 5}); } catch (e) { console.log(`left ${profile}: ${e.message}`); }
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
