// Residency: each ResidencyPolicy with the residency audit's verdict (Compliant condition,
// open violations, members it cannot see), the residency-bound workloads with where their
// replicas run, and the evidence ledger's state (its head and newest signed checkpoint).
import {ApiError, GROUP} from './api.js';
import {h, replace} from './dom.js';
import {condition, regionMap, residencyOf} from './model.js';

const EVIDENCE = `${GROUP}/residencyevidences`;
const LEDGER_POLL_MS = 5000;

// The ledger's state as the API holds it: the head (entries, last append) and, when the
// evidence-checkpoint controller runs, the newest Checkpoint entry, which the server wrote
// after verifying the whole chain up to it and signed (residency/ledger_checkpoint.h). Two
// GETs, not the ledger: a browser does not re-hash a ledger of millions of entries.
export async function ledgerState(api) {
  let head;
  try {
    head = await api.get(`${EVIDENCE}/head`);
  } catch (e) {
    if (e instanceof ApiError && e.code === 404) return {entries: 0};
    throw e;
  }
  const state = {entries: head.spec.sequence || 0, lastAppend: head.spec.time, headHash: head.spec.hash || ''};
  if (head.spec.checkpoint) {
    const name = String(head.spec.checkpoint).padStart(20, '0');
    const c = await api.get(`${EVIDENCE}/${name}`);
    const d = c.spec.data || {};
    state.checkpoint = {sequence: c.spec.sequence, time: c.spec.time, sealed: d.sealedSequence,
                        keyId: d.keyId || '', algorithm: d.algorithm || ''};
  }
  return state;
}

const entries = (n) => `${n} ${n === 1 ? 'entry' : 'entries'}`;

function ledgerView(state, error) {
  if (error) return h('p', {class: 'badge bad', role: 'alert', id: 'ledger-state'}, `Evidence ledger: ${error}`);
  if (!state) return h('p', {class: 'muted', id: 'ledger-state'}, 'Reading the evidence ledger…');
  if (!state.entries) {
    return h('p', {class: 'muted', id: 'ledger-state', 'data-verification': 'empty'}, 'The evidence ledger is empty.');
  }
  const c = state.checkpoint;
  const verification = c ? (c.sealed === state.entries - 1 ? 'sealed' : 'sealed-partly') : 'unsealed';
  const rows = [
    ['Entries', String(state.entries)],
    ['Last entry', state.lastAppend || '-'],
    ['Head hash', state.headHash ? `${state.headHash.slice(0, 16)}…` : '-'],
    ['Verified and signed', c
      ? `through entry ${c.sealed} by checkpoint ${c.sequence} at ${c.time} (${c.algorithm}, key id ${c.keyId})`
      : 'no signed checkpoint (the server seals the ledger with --evidence-signing-key-file)'],
    ['Not yet sealed', c ? `${entries(Math.max(0, state.entries - c.sequence))} since the checkpoint` : `all ${entries(state.entries)}`],
  ];
  const badge = verification === 'unsealed' ? ['warn', 'not sealed'] : ['ok', 'verified by the server'];
  return h('section', {id: 'ledger-state', 'data-verification': verification, 'aria-labelledby': 'ledger-title'},
    h('h2', {id: 'ledger-title'}, 'Evidence ledger ', h('span', {class: `badge ${badge[0]}`}, badge[1])),
    h('dl', {class: 'report'}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('p', {class: 'hint'}, 'Check the whole chain and its signatures yourself: ',
      h('code', {}, 'fedctl residency verify --public-key evidence-signing.pub'), '.'));
}

export function renderResidency(main, ctx) {
  let ledger = null, ledgerError = null, stopped = false, timer = null;
  const readLedger = async () => {
    try {
      ledger = await ledgerState(ctx.api);
      ledgerError = null;
    } catch (e) {
      ledgerError = e.message;
    }
    if (stopped) return;
    draw();
    timer = setTimeout(readLedger, LEDGER_POLL_MS);
  };
  const draw = () => {
    const policies = ctx.policies.list().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const members = new Map(ctx.members.list().map((m) => [m.metadata.name, m]));
    const regionOf = regionMap([...members.values()]);
    const bound = ctx.workloads.list().map((w) => [w, residencyOf(w, policies)]).filter(([, a]) => a !== null);
    replace(main,
      h('h1', {}, 'Residency'),
      ctx.policies.error ? h('p', {class: 'badge bad', role: 'alert'}, ctx.policies.error.message) : null,
      h('h2', {}, 'Policies and the audit'),
      policies.length ? h('table', {'aria-label': 'Residency policies'},
        h('thead', {}, h('tr', {}, ['Policy', 'Namespaces', 'Jurisdictions', 'Audit', 'Violations', 'Unverified members'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, policies.map((p) => {
          const c = condition(p, 'Compliant');
          const st = p.status || {};
          const verdict = !c ? ['warn', 'not audited yet'] : c.status === 'True' ? ['ok', 'verified'] : st.violations ? ['bad', 'violation'] : ['warn', 'unverified'];
          return h('tr', {class: verdict[0] === 'bad' ? 'failing' : ''},
            h('td', {}, p.metadata.name), h('td', {}, (p.spec.namespaces || []).join(', ')),
            h('td', {}, (p.spec.jurisdictions || []).join(', ')),
            h('td', {}, h('span', {class: `badge ${verdict[0]}`}, verdict[1]), c && c.message ? h('div', {class: 'muted'}, c.message) : null),
            h('td', {}, String(st.violations || 0)), h('td', {}, String(st.unverifiedMembers || 0)));
        }))) : h('p', {class: 'muted'}, 'No residency policies.'),
      h('h2', {}, 'Residency-bound workloads'),
      bound.length ? h('table', {'aria-label': 'Residency-bound workloads'},
        h('thead', {}, h('tr', {}, ['Workload', 'Allowed', 'Runs in (cluster: jurisdiction)'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, bound.map(([w, allowed]) => {
          const where = ((w.status && w.status.placement) || []).filter((p) => p.replicas > 0).map((p) => {
            const j = ((members.get(p.cluster) || {}).spec || {}).jurisdiction || '?';
            return {text: `${p.cluster} (${regionOf.get(p.cluster) || '?'}): ${j}`, ok: allowed.includes(j)};
          });
          return h('tr', {class: where.some((x) => !x.ok) ? 'failing' : ''},
            h('td', {}, `${w.metadata.namespace}/${w.metadata.name}`), h('td', {}, allowed.join(', ') || 'none'),
            h('td', {}, where.map((x) => h('span', {class: x.ok ? 'badge ok' : 'badge bad'}, x.text)).reduce((acc, el) => acc.concat(acc.length ? [' ', el] : [el]), [])));
        }))) : h('p', {class: 'muted'}, 'No workload is residency-bound.'),
      ledgerView(ledger, ledgerError));
  };
  draw();
  readLedger();
  const offs = [ctx.policies.onChange(draw), ctx.members.onChange(draw), ctx.workloads.onChange(draw)];
  return () => {
    stopped = true;
    clearTimeout(timer);
    offs.forEach((off) => off());
  };
}
