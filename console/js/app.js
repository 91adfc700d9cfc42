// The console's entry point: sign-in with a bearer token (kept in sessionStorage, so it goes
// when the tab closes) or with the browser's TLS client certificate, the live collections
// every view shares, and a hash router.
import {Api, ApiError, Collection, GROUP} from './api.js';
import {h, replace} from './dom.js';
import {renderFleet} from './fleet.js';
import {renderWorkloads, renderWorkload} from './workloads.js';
import {renderDrills, renderDrill} from './drills.js';
import {renderResidency} from './residency.js';

const TOKEN_KEY = 'meridian.console.token';
// Stored under TOKEN_KEY for a certificate sign-in (a bearer token never looks like this).
const CERTIFICATE = ' certificate';
const ANONYMOUS = 'system:anonymous';
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const banner = document.getElementById('error');

let ctx = null;  // {api, user, can, members, workloads, drills, policies (opened on first use)}
let cleanup = () => {};

export function showError(message) {
  banner.hidden = !message;
  banner.textContent = message || '';
}

function loginView(message) {
  nav.hidden = true;
  document.getElementById('signout').hidden = true;
  document.getElementById('whoami').textContent = '';
  const input = h('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'off',
                            required: true, 'aria-describedby': 'token-hint'});
  const form = h('form', {class: 'login', 'aria-labelledby': 'login-title'},
    h('h1', {id: 'login-title'}, 'Sign in to Meridian'),
    h('label', {for: 'token'}, 'Bearer token'), input,
    h('p', {id: 'token-hint', class: 'hint'},
      'A token from the API server\'s --token-auth-file (scripts/demo.sh prints one). It stays in this tab only.'),
    message ? h('p', {class: 'badge bad', role: 'alert'}, message) : null,
    h('button', {type: 'submit', class: 'primary'}, 'Sign in'),
    h('p', {class: 'hint'}, 'Or, when the API server trusts your certificate authority (--client-ca-file):'),
    h('button', {type: 'button', id: 'signin-certificate'}, 'Sign in with my browser\'s certificate'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    signIn(input.value.trim());
  });
  form.querySelector('#signin-certificate').addEventListener('click', () => signIn(CERTIFICATE));
  replace(main, form);
  input.focus();
}

// `token`: a bearer token, or CERTIFICATE to be signed in by the browser's client certificate.
async function signIn(token) {
  if (!token) return loginView('Enter a token.');
  performance.mark('meridian:signin');  // bench/console measures from here
  const byCertificate = token === CERTIFICATE;
  const api = new Api(byCertificate ? null : token);
  const refused = byCertificate
    ? 'The API server did not get a client certificate it trusts from this browser.'
    : 'The API server did not accept this token.';
  let user;
  try {
    user = await api.whoami();
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    return loginView(e instanceof ApiError && e.code === 401 ? refused : String(e.message));
  }
  // Without a certificate a server that allows anonymous requests answers as system:anonymous:
  // that is nobody signed in.
  if (byCertificate && user.username === ANONYMOUS) {
    sessionStorage.removeItem(TOKEN_KEY);
    return loginView(refused);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const [createDrills, patchDrills] = await Promise.all([api.canI('create', 'failoverdrills'), api.canI('patch', 'failoverdrills')]);
  // Each collection is listed and watched from the first view that reads it, then kept for
  // the session: the fleet view reads the members alone, so a 10,000-workload fleet costs
  // the fleet view no workload LIST; the workloads are opened by the first view that shows them.
  const opened = new Map();
  const open = (plural) => {
    if (!opened.has(plural)) opened.set(plural, new Collection(api, `${GROUP}/${plural}`));
    return opened.get(plural);
  };
  ctx = {
    api, user,
    can: {createDrills, abortDrills: patchDrills},
    get members() { return open('memberclusters'); },
    get workloads() { return open('federatedworkloads'); },
    get drills() { return open('failoverdrills'); },
    get policies() { return open('residencypolicies'); },
    opened,
  };
  void ctx.members;  // every view reads them: list at once
  nav.hidden = false;
  const out = document.getElementById('signout');
  out.hidden = false;
  document.getElementById('whoami').textContent = `Signed in as ${user.username}`;
  if (!location.hash || location.hash === '#/login') location.hash = '#/fleet';
  route();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  if (ctx) for (const c of ctx.opened.values()) c.stop();
  ctx = null;
  cleanup();
  cleanup = () => {};
  showError('');
  loginView();
}

function route() {
  if (!ctx) return;
  cleanup();
  showError('');
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const view = parts[0] || 'fleet';
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const views = {
    fleet: () => renderFleet(main, ctx),
    workloads: () => (parts.length >= 3 ? renderWorkload(main, ctx, parts[1], parts[2]) : renderWorkloads(main, ctx)),
    drills: () => (parts.length >= 2 && parts[1] ? renderDrill(main, ctx, parts[1]) : renderDrills(main, ctx)),
    residency: () => renderResidency(main, ctx),
  };
  cleanup = (views[view] || views.fleet)() || (() => {});
}

document.getElementById('signout').addEventListener('click', signOut);
window.addEventListener('hashchange', route);
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved);
else loginView();
