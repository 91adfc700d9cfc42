// Residency: each ResidencyPolicy with the residency audit's verdict (Compliant condition,
// open violations, members it cannot see), the residency-bound workloads with where their
// replicas run, the evidence ledger's state (its head and newest signed checkpoint), and links
// that download the compliance report (a ComplianceReview the server answers from the ledger it
// verifies: federation-apiserver/compliance_review.h).
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

const REVIEWS = `${GROUP}/compliancereviews`;

// The compliance report for the whole ledger up to now in `format` (text, json or html), as the
// server renders it: byte for byte what `fedctl residency report` prints for the same period.
export async function complianceReport(api, format) {
  const r = await api.post(REVIEWS, {apiVersion: 'federation.meridian.io/v1alpha1', kind: 'ComplianceReview',
                                     spec: {format}});
  return r.status;
}

// Saves `report` (a ComplianceReview's status) as a file: a blob URL clicked with its filename.
function save(report) {
  const url = URL.createObjectURL(new Blob([report.content], {type: report.contentType}));
  const a = h('a', {href: url, download: report.filename, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// The download links, for a user who may read the ledger (list residencyevidences, which the
// server requires for the report); `allowed` null while the console is still asking.
function reportView(ctx, allowed, status, onStatus) {
  if (allowed === null) return null;
  if (!allowed) {
    return h('p', {class: 'muted', id: 'no-compliance-report'},
      'Compliance report: your user may not read the evidence ledger (list residencyevidences), so there is no report to download.');
  }
  const link = (format, label) => h('a', {href: '#/residency', id: `compliance-report-${format}`, 'data-format': format,
    onclick: async (e) => {
      e.preventDefault();
      onStatus({busy: format});
      try {
        const report = await complianceReport(ctx.api, format);
        save(report);
        onStatus({saved: report.filename});
      } catch (err) {
        onStatus({error: err.message});
      }
    }}, label);
  return h('section', {id: 'compliance-report', 'aria-labelledby': 'compliance-title'},
    h('h2', {id: 'compliance-title'}, 'Compliance report'),
    h('p', {}, 'Where each residency-bound workload ran, audit coverage, violations and policy changes over the whole evidence ledger, verified by the server: ',
      link('html', 'download HTML'), ' · ', link('json', 'download JSON'), '.'),
    status.busy ? h('p', {class: 'muted', role: 'status'}, `Building the ${status.busy.toUpperCase()} report…`) : null,
    status.saved ? h('p', {class: 'muted', role: 'status', id: 'compliance-report-saved'}, `Saved ${status.saved}.`) : null,
    status.error ? h('p', {class: 'badge bad', role: 'alert'}, `Compliance report: ${status.error}`) : null,
    h('p', {class: 'hint'}, 'The same for any period: ', h('code', {}, 'fedctl residency report --since 720h -o html'), '.'));
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
  let reportAllowed = null, reportStatus = {};
  ctx.api.canI('list', 'residencyevidences').then((allowed) => {
    reportAllowed = allowed;
    if (!stopped) draw();
  });
  const onReportStatus = (st) => {
    reportStatus = st;
    if (!stopped) draw();
  };
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
      ledgerView(ledger, ledgerError),
      reportView(ctx, reportAllowed, reportStatus, onReportStatus));
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
