// Drills: the list, the form to start one (what-if first: a confirmation naming the members,
// zones and workloads the drill would affect), one drill's live chart, abort button and report
// (the text of `fedctl drill report`, and a link to save it).
import {ApiError, GROUP} from './api.js';
import {age, h, replace} from './dom.js';
import {drillChart} from './chart.js';
import {drillPhaseFinal, drillReportText, withComparison} from './drill_report.js';
import {memberZones} from './model.js';

const ABORT_ANNOTATION = 'drills.meridian.io/abort';
const PATH = `${GROUP}/failoverdrills`;

function describeTarget(t) {
  const [k, v] = Object.entries(t || {})[0] || ['', ''];
  return k ? `${k}=${v}` : '(game day)';
}

function phaseBadge(phase) {
  const cls = phase === 'Completed' ? 'ok' : phase === 'Aborted' || phase === 'Failed' ? 'bad' : 'warn';
  return h('span', {class: `badge ${cls}`, 'data-phase': phase || 'Pending'}, phase || 'Pending');
}

export function renderDrills(main, ctx) {
  const offs = [];
  const form = ctx.can.createDrills ? drillForm(ctx, offs) : null;
  const list = h('div', {});
  const draw = () => {
    const drills = ctx.drills.list().sort((a, b) => Date.parse(b.metadata.creationTimestamp) - Date.parse(a.metadata.creationTimestamp));
    replace(list,
      h('h2', {}, 'Drills'),
      ctx.drills.error ? h('p', {class: 'badge bad', role: 'alert'}, ctx.drills.error.message) : null,
      drills.length ? h('table', {'aria-label': 'Failover drills'},
        h('thead', {}, h('tr', {}, ['Name', 'Target', 'Mode', 'Phase', 'Created'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, drills.map((d) => h('tr', {'data-drill': d.metadata.name},
          h('td', {}, h('a', {href: `#/drills/${encodeURIComponent(d.metadata.name)}`}, d.metadata.name)),
          h('td', {}, describeTarget(d.spec.target)),
          h('td', {}, d.spec.mode === 'live' ? `live (${d.spec.failure || (d.spec.injectFault ? 'injected' : 'declared')})` : d.spec.mode),
          h('td', {}, phaseBadge(d.status && d.status.phase)),
          h('td', {}, `${age(d.metadata.creationTimestamp)} ago`)))))
        : h('p', {class: 'muted'}, 'No drills yet.'));
  };
  replace(main, h('h1', {}, 'Drills'),
    form || h('p', {class: 'panel', id: 'no-drill-form'},
      'You may read drills but not start them (RBAC: create failoverdrills is not allowed for this user).'),
    list);
  draw();
  offs.push(ctx.drills.onChange(draw));
  return () => offs.forEach((off) => off());
}

// The form; `offs` gets what to unsubscribe when the view goes.
function drillForm(ctx, offs) {
  const kind = h('select', {id: 'target-kind', name: 'kind'}, ['region', 'zone', 'cluster'].map((k) => h('option', {value: k}, k)));
  const value = h('select', {id: 'target-value', name: 'target', required: true});
  const mode = h('select', {id: 'drill-mode', name: 'mode'},
    h('option', {value: 'declared'}, 'live, declared (placement treats the target as failed)'),
    h('option', {value: 'injected'}, 'live, injected (the fault is made real in the member)'),
    h('option', {value: 'simulate'}, 'simulate (computes, changes nothing)'));
  const duration = h('input', {id: 'drill-duration', name: 'duration', type: 'number', min: 1, max: 86400, value: 60, required: true});
  const abortBelow = h('input', {id: 'drill-abort-below', name: 'abortBelow', type: 'number', min: 1, max: 100, placeholder: 'e.g. 80'});
  const confirmBox = h('div', {id: 'drill-confirm', 'aria-live': 'polite'});
  const fillValues = () => {
    const members = ctx.members.list();
    const values = new Set();
    for (const m of members) {
      if (kind.value === 'region') values.add(m.spec.region);
      if (kind.value === 'cluster') values.add(m.metadata.name);
      if (kind.value === 'zone') for (const z of memberZones(m).keys()) values.add(z);
    }
    const keep = value.value;
    replace(value, [...values].filter(Boolean).sort().map((v) => h('option', {value: v}, v)));
    if (values.has(keep)) value.value = keep;
  };
  kind.addEventListener('change', fillValues);
  offs.push(ctx.members.onChange(fillValues));
  fillValues();

  const build = () => {
    const m = mode.value;
    const spec = {mode: m === 'simulate' ? 'simulate' : 'live', target: {[kind.value]: value.value},
                  durationSeconds: Number(duration.value)};
    if (m !== 'simulate') spec.failure = m;
    if (abortBelow.value && m !== 'simulate') spec.abortConditions = {minAvailabilityPercent: Number(abortBelow.value)};
    const slug = value.value.toLowerCase().replace(/[^a-z0-9.-]/g, '-').slice(0, 40);
    return {apiVersion: 'federation.meridian.io/v1alpha1', kind: 'FailoverDrill',
            metadata: {generateName: `drill-${slug}-`}, spec};
  };

  const form = h('form', {class: 'panel', id: 'drill-form', 'aria-labelledby': 'drill-form-title'},
    h('h2', {id: 'drill-form-title'}, 'Start a drill'),
    h('div', {class: 'row'},
      h('div', {}, h('label', {for: 'target-kind'}, 'Target kind'), kind),
      h('div', {}, h('label', {for: 'target-value'}, 'Target'), value),
      h('div', {}, h('label', {for: 'drill-mode'}, 'Mode'), mode),
      h('div', {}, h('label', {for: 'drill-duration'}, 'Duration (seconds)'), duration),
      h('div', {}, h('label', {for: 'drill-abort-below'}, 'Abort below availability (%)'), abortBelow)),
    h('p', {}, h('button', {type: 'submit', class: 'primary', id: 'drill-review'}, 'Review what it affects…')),
    confirmBox);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const drill = build();
    replace(confirmBox, h('p', {}, 'Asking the API what this drill would affect…'));
    try {
      replace(confirmBox, await confirmation(ctx, drill, confirmBox));
      const start = confirmBox.querySelector('#drill-start');
      if (start) start.focus();
    } catch (err) {
      replace(confirmBox, h('p', {class: 'badge bad', role: 'alert'}, err.message));
    }
  });
  return form;
}

// What the drill would do, from the API itself: a dry-run create (admission's checks: the
// target exists, no overlapping live drill, residency) and a WhatIfReview of the same target
// (placement's what-if, answered in the response and never stored: nothing accumulates
// however often the user only looks; `fedctl what-if` computes the same answer).
async function confirmation(ctx, drill, box) {
  await ctx.api.post(`${PATH}?dryRun=All`, drill);
  const [k, v] = Object.entries(drill.spec.target)[0];
  const members = ctx.members.list().filter((m) =>
    (k === 'region' && m.spec.region === v) || (k === 'cluster' && m.metadata.name === v) || (k === 'zone' && memberZones(m).has(v)));
  let whatIf = null;
  let whatIfError = null;
  try {
    const review = await ctx.api.post(`${GROUP}/whatifreviews`, {apiVersion: 'federation.meridian.io/v1alpha1',
      kind: 'WhatIfReview', spec: {failures: [drill.spec.target]}});
    whatIf = review.status;
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 403) throw err;
    whatIfError = 'What-if not shown: RBAC does not allow this user to create whatifreviews.';
  }
  const affected = (whatIf && whatIf.affected) || [];
  const start = async () => {
    try {
      const created = await ctx.api.post(PATH, drill);
      location.hash = `#/drills/${encodeURIComponent(created.metadata.name)}`;
    } catch (err) {
      replace(box, h('p', {class: 'badge bad', role: 'alert'}, err.message));
    }
  };
  const what = drill.spec.mode === 'simulate' ? 'Simulate the failure of' : `Fail (${drill.spec.failure})`;
  return h('div', {class: 'panel confirm', role: 'alertdialog', 'aria-labelledby': 'confirm-title'},
    h('h3', {id: 'confirm-title'}, `${what} ${k} ${v} for ${drill.spec.durationSeconds} s?`),
    h('p', {}, `Affected members: ${members.map((m) => `${m.metadata.name} (${m.spec.region}; zones ${[...memberZones(m).keys()].filter((z) => k !== 'zone' || z === v).join(', ')})`).join('; ') || 'none'}.`),
    whatIf ? h('div', {},
      h('p', {}, affected.length ? `${affected.length} workload(s) would move (what-if; ${whatIf.unaffected} unaffected):` : 'No workload has replicas there: nothing would move.'),
      affected.length ? h('ul', {id: 'what-if-workloads'}, affected.map((w) => h('li', {},
        `${w.namespace}/${w.name}: ${w.onTarget} of ${w.desired} replicas on the target; moved per region ${movedPerRegion(w)}`,
        w.unplacedAfter ? `; ${w.blockedBy}` : ''))) : null) : null,
    whatIfError ? h('p', {class: 'muted'}, whatIfError) : null,
    h('p', {},
      h('button', {type: 'button', class: 'danger', id: 'drill-start', onclick: start}, drill.spec.mode === 'simulate' ? 'Run the simulation' : 'Start the drill'), ' ',
      h('button', {type: 'button', onclick: () => replace(box)}, 'Cancel')));
}

// "eu-west -3, us-east +3" from a WhatIfReview workload's clusters (after minus before).
function movedPerRegion(w) {
  const change = new Map();
  for (const c of w.clusters || []) change.set(c.region, (change.get(c.region) || 0) + c.after - c.before);
  return [...change].filter(([, n]) => n !== 0).map(([r, n]) => `${r} ${n > 0 ? '+' : ''}${n}`).join(', ') || 'none';
}

export function renderDrill(main, ctx, name) {
  let abortError = null;
  const draw = () => {
    const d = ctx.drills.get(name);
    if (!d) {
      replace(main, h('p', {}, h('a', {href: '#/drills'}, '← Drills')), h('h1', {}, name), h('p', {}, ctx.drills.loaded ? 'No such drill.' : 'Loading…'));
      return;
    }
    const phase = (d.status && d.status.phase) || 'Pending';
    const abortRequested = (d.metadata.annotations || {})[ABORT_ANNOTATION] === 'true';
    const abortButton = ctx.can.abortDrills && !drillPhaseFinal(phase) && d.spec.mode === 'live'
      ? h('button', {type: 'button', class: 'danger', id: 'drill-abort', disabled: abortRequested, onclick: () => abort(d)},
          abortRequested ? 'Abort requested…' : 'Abort the drill')
      : null;
    replace(main,
      h('p', {}, h('a', {href: '#/drills'}, '← Drills')),
      h('h1', {}, `Drill ${name}`),
      h('div', {class: 'summary'}, h('span', {}, describeTarget(d.spec.target)), h('span', {}, d.spec.mode),
        phaseBadge(phase), d.status && d.status.message ? h('span', {class: 'muted'}, d.status.message) : null, abortButton),
      abortError ? h('p', {class: 'badge bad', role: 'alert'}, abortError) : null,
      h('figure', {class: 'chart'}, drillChart(d), h('figcaption', {class: 'muted'}, 'Ready replicas per region; seconds since the fault started.')),
      reportView(withComparison(d, ctx.drills.list())));
  };
  const abort = async (d) => {
    try {
      await ctx.api.mergePatch(`${PATH}/${encodeURIComponent(d.metadata.name)}`, {metadata: {annotations: {[ABORT_ANNOTATION]: 'true'}}});
      abortError = null;
    } catch (e) {
      abortError = e instanceof ApiError ? `Abort refused: ${e.message}` : String(e);
    }
    draw();
  };
  draw();
  return ctx.drills.onChange(draw);
}

// The report, as `fedctl drill report NAME` prints it (./drill_report.js; `d` already carries
// the comparison with the previous drill of its target), with a link that saves the same text.
function reportView(d) {
  const text = drillReportText(d);
  const file = `${d.metadata.name}-report.txt`;
  return h('section', {id: 'drill-report', 'aria-labelledby': 'report-title'},
    h('h2', {id: 'report-title'}, 'Report ',
      h('a', {id: 'drill-report-download', download: file,
              href: `data:text/plain;charset=utf-8,${encodeURIComponent(text)}`}, `Download ${file}`)),
    h('pre', {class: 'report', id: 'drill-report-text'}, text));
}
