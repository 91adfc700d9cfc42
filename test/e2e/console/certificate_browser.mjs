// Signing in to the web console with the browser's TLS client certificate (started by
// test/e2e/console_test.cc, ConsoleE2E.SignInWithTheBrowsersClientCertificate): a
// federation-apiserver on HTTPS with --client-ca-file; Chromium's NSS database (HOME_WITH_CERT)
// holds the admin's certificate, issued by that CA, and a Chromium policy selects it for the
// server's origin (a user would pick it in the browser's dialog). Checks: the certificate
// button signs the browser in as the certificate's user with no token anywhere; a reload stays
// signed in; the fleet view opens; a browser without the certificate (HOME_WITHOUT_CERT) is
// refused with the console's message and sees no fleet; no console errors.
//
// Environment: CONSOLE_URL (https://127.0.0.1:PORT/console/), HOME_WITH_CERT,
// HOME_WITHOUT_CERT, USER_NAME (the certificate's CN), OUT_DIR, CHROMIUM (default
// /usr/bin/chromium). Exit code 0 when every check passed; otherwise the first failure is
// printed.
import fs from 'node:fs';
import path from 'node:path';
import {Browser} from './cdp.mjs';

const env = (k, d) => process.env[k] || d || (() => { throw new Error(`${k} is not set`); })();
const url = env('CONSOLE_URL'), out = env('OUT_DIR'), user = env('USER_NAME');
const chromium = env('CHROMIUM', '/usr/bin/chromium');
fs.mkdirSync(out, {recursive: true});
const t0 = Date.now();
const log = (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
function check(ok, message) {
  if (!ok) throw new Error(`check failed: ${message}`);
}

async function withBrowser(home, fn) {
  const profile = fs.mkdtempSync(path.join(out, 'profile-'));
  const browser = await Browser.launch(chromium, profile, {...process.env, HOME: home});
  try {
    const page = await browser.newPage();
    await fn(page);
    const errors = page.messages.filter((m) => m.level === 'error' || m.level === 'exception')
      // The refused browser's whoami is answered 401: Chromium logs the failed request itself.
      .filter((m) => !/status of 401/.test(m.text));
    check(errors.length === 0, `console errors: ${JSON.stringify(errors)}`);
  } finally {
    await browser.close();
    fs.rmSync(profile, {recursive: true, force: true});
  }
}

async function clickCertificateSignIn(page) {
  await page.goto(url);
  await page.waitFor('the sign-in form', `document.querySelector('#signin-certificate') !== null`);
  await page.eval(`document.querySelector('#signin-certificate').click(), true`);
}

async function main() {
  setTimeout(() => { console.error('watchdog: the browser test took over 90 s'); process.exit(2); }, 90000).unref();

  await withBrowser(env('HOME_WITH_CERT'), async (page) => {
    await clickCertificateSignIn(page);
    const who = await page.waitFor('the signed-in header',
      `document.querySelector('#whoami').textContent.startsWith('Signed in as') && document.querySelector('#whoami').textContent`);
    check(who === `Signed in as ${user}`, `header says "${who}", not "Signed in as ${user}"`);
    await page.waitFor('the fleet view', `document.querySelector('.summary') !== null`);
    log(`signed in by certificate: ${who}`);
    // The session keeps the way of signing in, never a secret: a reload signs in again.
    const stored = await page.eval(`sessionStorage.getItem('meridian.console.token')`);
    check(stored === ' certificate', `sessionStorage holds ${JSON.stringify(stored)}`);
    await page.eval(`location.reload(), true`);
    await page.waitFor('the signed-in header after a reload',
      `document.querySelector('#whoami') && document.querySelector('#whoami').textContent === ${JSON.stringify(`Signed in as ${user}`)}`);
    await page.waitFor('the fleet view after a reload', `document.querySelector('.summary') !== null`);
    await page.screenshot(path.join(out, 'console-certificate-signin.png'));
    log('still signed in after a reload');
  });

  await withBrowser(env('HOME_WITHOUT_CERT'), async (page) => {
    await clickCertificateSignIn(page);
    const alert = await page.waitFor('the refusal',
      `(document.querySelector('.login [role=alert]') || {}).textContent`);
    check(/did not get a client certificate it trusts/.test(alert), `refusal says "${alert}"`);
    check(await page.eval(`document.querySelector('.summary') === null && document.querySelector('#whoami').textContent === ''`),
      'a browser without the certificate got past the sign-in');
    log(`refused without a certificate: ${alert}`);
  });
}

main().then(() => { log('all checks passed'); process.exit(0); },
  (e) => { console.error(e.stack || String(e)); process.exit(1); });
