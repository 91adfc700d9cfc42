// A FailoverDrill's report as text, line for line what `fedctl drill report NAME` prints
// (cli/drill_report.cc DrillReportText, whose layout this follows; the console e2e test
// compares the two byte for byte, so a change to one that the other misses fails it).
// For a drill whose target was drilled before, fedctl lists the drills, compares the two
// reports (cli/drill_compare.cc) and attaches the comparison as report.comparedWithPrevious;
// withComparison below does the same over the console's live list of drills.
// Lenient like fedctl's report_json.h: a missing field or one of another type reads as
// null / '' / the default. Pure.

const isObject = (j) => j !== null && typeof j === 'object' && !Array.isArray(j);
const field = (j, k) => (isObject(j) && k in j ? j[k] : null);
const str = (j, k) => (typeof field(j, k) === 'string' ? field(j, k) : '');
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
const int = (j, k, def = 0) => (isInt(field(j, k)) ? field(j, k) : def);
const isNumber = (v) => typeof v === 'number';
const list = (v) => (Array.isArray(v) ? v : []);

// The integer members of an object, keys in byte order (as a std::map of them).
function intMap(j) {
  const out = new Map();
  if (!isObject(j)) return out;
  for (const k of Object.keys(j).sort()) if (isInt(j[k])) out.set(k, j[k]);
  return out;
}
const at = (m, k) => m.get(k) || 0;

// x with `d` (0 or 1) decimals as fmt's "{:.1f}" writes it: exact ties round to even (1.25 ->
// "1.2"), where toFixed rounds them up. Ties are exact only where 2x (d 0) or 4x (d 1) is odd.
function fixed(x, d) {
  const y = x * (d === 0 ? 2 : 4);
  if (Number.isInteger(y) && Math.abs(y) % 2 === 1) {
    const lo = Math.floor(x * 10 ** d);
    return ((lo % 2 === 0 ? lo : lo + 1) / 10 ** d).toFixed(d);
  }
  return x.toFixed(d);
}
const secs = (s) => `${fixed(s, 1)}s`;
const percent = (ready, desired) => (desired <= 0 ? 'n/a' : `${fixed(100 * ready / desired, 0)}%`);
const signed = (n) => (n > 0 ? `+${n}` : String(n));
const milestone = (report, key, missing) => (isNumber(field(report, key)) ? secs(field(report, key)) : missing);
const left = (s, w) => String(s).padEnd(w);
const right = (s, w) => String(s).padStart(w);

export function drillPhaseFinal(phase) {
  return phase === 'Completed' || phase === 'Aborted' || phase === 'Failed';
}

function percentileLines(report) {
  const p = field(report, 'percentiles');
  if (!isObject(p)) return '';
  let out = '';
  for (const [key, label] of [['timeToReplaceSeconds', 'time to re-place:          '],
                              ['timeToFullReadySeconds', 'until full replicas ready: '],
                              ['timeToReturnSeconds', 'return after restore:      ']]) {
    const m = field(p, key);
    const of = int(m, 'of'), missing = int(m, 'missing');
    if (of === 0 && missing === 0) continue;
    out += `  ${label}${milestone(m, 'p50', '-')} / ${milestone(m, 'p95', '-')}  (${of} workload${of === 1 ? '' : 's'}`;
    if (missing > 0) out += `; ${missing} not reached`;
    out += ')\n';
  }
  return out;
}

function dnsAnswersText(report) {
  const dns = field(report, 'dns');
  if (!isObject(dns)) {
    return 'DNS answers: not sampled (this federation-apiserver serves no DNS, or no followed ' +
           'workload has spec.dns)\n';
  }
  const names = list(field(dns, 'names')).map((x) => (typeof x === 'string' ? x : '')).join(', ');
  let out = `DNS answers for ${names || '-'} (${int(dns, 'samples')} samples while failed, asked as each client region)\n`;
  if (str(dns, 'source')) out += `  from: ${str(dns, 'source')}\n`;
  if (isInt(field(dns, 'queries'))) out += `  queries: ${int(dns, 'queries')} sent, ${int(dns, 'lost')} lost\n`;
  const pct = (k) => (isInt(field(dns, k)) ? `${field(dns, k)}%` : 'n/a');
  out += `  pointing at the failed target: max ${pct('maxPercentToFailed')}`;
  if (isInt(field(dns, 'maxAtMs'))) out += ` at ${secs(field(dns, 'maxAtMs') / 1000)}`;
  out += `, p50 ${pct('p50PercentToFailed')}, p95 ${pct('p95PercentToFailed')}`;
  out += isInt(field(dns, 'lastToFailedMs')) ? `; last seen at ${secs(field(dns, 'lastToFailedMs') / 1000)}` : '; never';
  out += '\n';
  const sent = field(dns, 'sentTo');
  if (isObject(sent)) {
    for (const c of Object.keys(sent).sort()) {
      const to = [...intMap(sent[c])].map(([r, n]) => `${r} ${n}`);
      out += `  clients of ${c} sent to:${to.length ? ` ${to.join(', ')}` : ' nowhere'}\n`;
    }
  }
  return out;
}

// The return to the target after the restore (cli DrillReturnText without `now`).
export function drillReturnText(report) {
  const state = str(report, 'returnObservation');
  const progress = field(report, 'returnProgress');
  const want = int(progress, 'want'), placed = int(progress, 'placed'), ready = int(progress, 'ready');
  const before = int(progress, 'before', want);
  const restored = int(field(report, 'events'), 'restoredMs', 0);
  const until = int(report, 'returnObservedUntilMs', restored);
  // Placement settled on fewer than the target had before the drill (the fleet changed).
  const fewer = before > want ? `; placement wants ${want} there now, ${before} before the drill` : '';
  if (state === 'returned') {
    return `replicas back on the target ${milestone(report, 'timeToReturnSeconds', '?')} after restore (${ready} of ${want} ready${fewer})`;
  }
  if (state === 'watching') {
    return `return still in progress: ${placed} of ${want} on the target, ${ready} ready${fewer} (watching until ${secs((until - restored) / 1000)} after restore)`;
  }
  if (state === 'notReturned') return `not back within ${secs((until - restored) / 1000)}: ${placed} of ${want} on the target, ${ready} ready${fewer}`;
  if (state === 'off') return 'not observed (spec.observeReturnSeconds is 0)';
  if (state === 'none') return 'nothing was on the target, nothing to return';
  return '';
}

export function drillReportText(drill) {
  const spec = field(drill, 'spec'), status = field(drill, 'status'), report = field(status, 'report');
  const name = str(field(drill, 'metadata'), 'name');
  const mode = str(spec, 'mode');
  let target = '';
  for (const k of ['zone', 'region', 'cluster']) if (str(field(spec, 'target'), k)) target = `${k}=${str(field(spec, 'target'), k)}`;
  const phase = str(status, 'phase');
  let failure = str(spec, 'failure');
  if (mode === 'live' && !failure) failure = field(spec, 'injectFault') === true ? 'injected' : 'declared';
  let out = `Drill ${name}: ${mode}, target ${target}, ${phase || 'Pending'}\n`;
  if (failure === 'injected') out += '  injected: the real fault was injected; the drill only observed the reaction\n';
  else if (failure) out += '  declared: placement treated the target as failed (planned evacuation)\n';
  if (str(status, 'message')) out += `  ${str(status, 'message')}\n`;
  if (str(status, 'startTime')) {
    out += `  started ${str(status, 'startTime')}`;
    if (str(status, 'completionTime')) out += `, ended ${str(status, 'completionTime')}`;
    out += '\n';
  }
  if (!isObject(report) || Object.keys(report).length === 0) return `${out}No report yet.\n`;
  const live = str(report, 'mode') === 'live';
  out += '\n';
  if (live) {
    const notYet = drillPhaseFinal(phase) ? 'not reached before the drill ended' : 'not yet';
    out += 'Timings (from fault start)\n';
    out += `  time to detect:             ${milestone(report, 'timeToDetectSeconds', notYet)}\n`;
    out += `  time to re-place:           ${milestone(report, 'timeToReplaceSeconds', notYet)}\n`;
    out += `  until full replicas ready:  ${milestone(report, 'timeToFullReadySeconds', notYet)}\n`;
    const restored = field(field(report, 'events'), 'restoredMs');
    if (isInt(restored)) out += `  target restored at:         ${secs(restored / 1000)}\n`;
    const back = drillReturnText(report);
    if (back) out += `  return to the target:       ${back}\n`;
    const spread = percentileLines(report);
    if (spread) out += `\nOver the workloads the target hurt (p50 / p95)\n${spread}`;
    const slo = field(report, 'slo');
    if (isObject(slo)) {
      const below = field(slo, 'secondsBelow');
      out += `\nSLO (availability >= ${int(slo, 'minAvailabilityPercent')}%): ${isNumber(below) && below > 0 ? `below it for ${secs(below)}` : 'met at every sample'}\n`;
      for (const w of list(field(report, 'perWorkload'))) {
        const b = field(w, 'secondsBelowSlo');
        if (isNumber(b) && b > 0) out += `  ${str(w, 'workload')}: below for ${secs(b)}\n`;
      }
    }
    out += '\nAbort condition: ';
    const min = field(report, 'minAvailabilityPercent');
    const dnsLimit = field(field(spec, 'abortConditions'), 'dnsAnswersToFailedRegionPercent');
    if (field(report, 'abortConditionFired') === true) out += `FIRED (${str(report, 'abortReason')})\n`;
    else if (isInt(min)) out += `did not fire (minimum availability ${min}%)\n`;
    else if (isInt(dnsLimit)) out += `did not fire (DNS answers to the failed target at most ${dnsLimit}%)\n`;
    else out += 'none set\n';
    if (str(report, 'abortReason') === 'requested') out += 'Aborted on request (fedctl drill abort).\n';
    if (int(report, 'lowestReady', -1) >= 0) {
      const low = int(report, 'lowestReady'), of = int(report, 'lowestReadyDesired');
      out += `Lowest availability: ${low} of ${of} ready (${percent(low, of)})\n`;
    }
    out += dnsAnswersText(report);
    const timeline = list(field(report, 'timeline'));
    if (timeline.length) {
      const fromMembers = timeline.some((s) => field(s, 'fromMembers') === true);
      const unverified = new Set();
      for (const s of timeline) for (const n of list(field(s, 'unverifiedMembers'))) if (typeof n === 'string') unverified.add(n);
      out += `Availability sampled from: ${fromMembers ? "the members' own objects" : "Meridian's status (members not read)"}`;
      if (unverified.size) out += `; unverified at times (counted as not ready): ${[...unverified].sort().join(', ')}`;
      out += '\n';
    }
  } else {
    out += `Simulated: nothing was changed; this is what losing ${target} would do now.\n`;
  }

  const before = intMap(field(report, 'placedBeforePerRegion'));
  const during = intMap(field(report, 'placedWhileFailedPerRegion'));
  const moved = intMap(field(report, 'replicasMovedPerRegion'));
  const regions = [...new Set([...before.keys(), ...during.keys(), ...moved.keys()])].sort();
  out += `\nReplicas per region (placement before -> while ${target} failed)\n`;
  if (!regions.length) {
    out += '  no workload had replicas on the target\n';
  } else {
    const width = Math.max(6, ...regions.map((r) => r.length));
    out += `  ${left('REGION', width)}  ${right('BEFORE', 6)}  ${right('DURING', 6)}  ${right('MOVED', 6)}\n`;
    for (const r of regions) {
      out += `  ${left(r, width)}  ${right(at(before, r), 6)}  ${right(at(during, r), 6)}  ${right(at(moved, r) === 0 ? '0' : signed(at(moved, r)), 6)}\n`;
    }
  }

  const violations = int(report, 'residencyViolations');
  out += `\nResidency violations: ${violations}${violations === 0 ? '' : '  <-- MUST BE 0'}\n`;
  for (const v of list(field(report, 'residencyViolationDetails'))) {
    out += `  ${str(v, 'workload')}: ${int(v, 'replicas')} on ${str(v, 'cluster')} (jurisdiction ${str(v, 'jurisdiction') || 'none'})\n`;
  }
  const unplaced = list(field(report, 'unplaced'));
  out += `Unplaced replicas: ${unplaced.length ? '' : 'none'}\n`;
  for (const u of unplaced) out += `  ${str(u, 'workload')}: ${int(u, 'replicas')} — ${str(u, 'why')}\n`;

  const workloads = list(field(report, 'workloads'));
  if (workloads.length) {
    out += `\nWorkloads ${live ? 'followed (placement at the start)' : 'affected (placement before -> after)'}\n`;
    for (const w of workloads) {
      const b = intMap(field(w, live ? 'placement' : 'before')), a = intMap(field(w, 'after'));
      const clusters = [...new Set([...b.keys(), ...a.keys()])].sort();
      out += `  ${str(w, 'workload')}: ${clusters.map((c) => `${c} ${at(b, c)}${live ? '' : `->${at(a, c)}`}`).join(', ')}  (${int(w, 'onTarget')} on the target)\n`;
    }
  }
  if (live) {
    out += '\nFault injection: ';
    out += field(report, 'faultInjected') === true
      ? `injected; ${field(report, 'faultHealed') === true ? 'healed' : 'NOT healed yet'} (the drill only observed: detection is the health monitor's)\n`
      : 'none, declared (placement treated the target as failed)\n';
    const timeline = list(field(report, 'timeline'));
    out += `Timeline: ${timeline.length} samples`;
    if (timeline.length) out += ` over ${secs(int(timeline[timeline.length - 1], 'atMs') / 1000)}`;
    out += ` (fedctl drill report ${name} --svg FILE draws it)\n`;
  }
  const cmp = field(report, 'comparedWithPrevious');
  if (isObject(cmp)) {
    out += `\nCompared with the previous drill of ${target} (${str(cmp, 'previous')})\n`;
    const figures = field(cmp, 'figures');
    if (Array.isArray(figures)) {
      const width = Math.max(6, ...figures.map((f) => str(f, 'figure').length));
      out += `  ${left('FIGURE', width)}  ${right('PREVIOUS', 12)}  ${right('THIS DRILL', 12)}  VERDICT\n`;
      for (const f of figures) {
        out += `  ${left(str(f, 'figure'), width)}  ${right(str(f, 'previous') || '-', 12)}  ${right(str(f, 'current') || '-', 12)}  ${str(f, 'verdict')}\n`;
      }
    }
  }
  return out;
}

// ---- The comparison with the previous drill (cli/drill_compare.cc, line for line) ----

// The previous drill of the same target, mode and failure kind as `current`: finished
// (Completed or Aborted), started before it; the latest such, or null.
export function previousDrillOf(current, drills) {
  const report = field(field(current, 'status'), 'report');
  const target = str(report, 'target'), mode = str(report, 'mode'), failure = str(report, 'failure');
  const name = str(field(current, 'metadata'), 'name');
  const started = field(report, 'startedAtMs');
  if (!target || !isInt(started)) return null;
  let best = null, bestStarted = 0;
  for (const d of drills) {
    if (str(field(d, 'metadata'), 'name') === name) continue;
    const phase = str(field(d, 'status'), 'phase');
    if (phase !== 'Completed' && phase !== 'Aborted') continue;
    const r = field(field(d, 'status'), 'report');
    if (str(r, 'target') !== target || str(r, 'mode') !== mode || str(r, 'failure') !== failure) continue;
    const s = field(r, 'startedAtMs');
    if (!isInt(s) || s >= started) continue;
    if (!best || s > bestStarted) {
      best = d;
      bestStarted = s;
    }
  }
  return best;
}

const num = (v) => (isNumber(v) ? v : null);
const nullAt = (j, k) => isObject(j) && k in j && j[k] === null;

function printFigure(v, unreached, f) {
  if (v === null) return unreached ? 'not reached' : '';
  if (f.isTime) return `${fixed(v, 1)}s`;
  if (f.unit === '%') return `${fixed(v, 1)}%`;
  return fixed(v, 0);
}

// Times within 10 % (or 0.2 s) of each other are the same; a milestone one side missed is
// worse (or better) only when the report says it was not reached.
function verdict(f) {
  if (f.previous !== null && f.current !== null) {
    const a = f.previous, b = f.current;
    const tolerance = f.isTime ? Math.max(0.2, 0.1 * Math.max(Math.abs(a), Math.abs(b))) : 1e-9;
    if (Math.abs(a - b) <= tolerance) return 'same';
    return (b < a) === f.lowerIsBetter ? 'better' : 'worse';
  }
  if (f.previous !== null && f.current === null && f.currentUnreached) return 'worse';
  if (f.previous === null && f.current !== null && f.previousUnreached) return 'better';
  return 'n/a';
}

export function compareDrillReports(prev, cur) {
  const figures = [];
  const base = (name) => ({name, previous: null, current: null, previousUnreached: false, currentUnreached: false,
                           lowerIsBetter: true, isTime: true, unit: 's'});
  const milestone = (name, key) => figures.push({...base(name), previous: num(field(prev, key)), current: num(field(cur, key)),
                                                 previousUnreached: nullAt(prev, key), currentUnreached: nullAt(cur, key)});
  const p95 = (name, key) => {
    const pa = field(field(prev, 'percentiles'), key), pb = field(field(cur, 'percentiles'), key);
    const a = field(pa, 'p95'), b = field(pb, 'p95');
    const f = {...base(name), previous: num(a), current: num(b),
               previousUnreached: isNumber(field(pa, 'missing')) && a === null,
               currentUnreached: isNumber(field(pb, 'missing')) && b === null};
    if (f.previous !== null || f.current !== null) figures.push(f);
  };
  milestone('time to detect', 'timeToDetectSeconds');
  milestone('time to re-place', 'timeToReplaceSeconds');
  p95('time to re-place (p95 over workloads)', 'timeToReplaceSeconds');
  milestone('time until fully ready', 'timeToFullReadySeconds');
  p95('time until fully ready (p95 over workloads)', 'timeToFullReadySeconds');
  if (isNumber(field(prev, 'timeToReturnSeconds')) || isNumber(field(cur, 'timeToReturnSeconds'))) {
    milestone('time to return after restore', 'timeToReturnSeconds');
  }
  figures.push({...base('lowest availability'), lowerIsBetter: false, isTime: false, unit: '%',
                previous: num(field(prev, 'lowestAvailabilityPercent')), current: num(field(cur, 'lowestAvailabilityPercent'))});
  if (isObject(field(prev, 'slo')) || isObject(field(cur, 'slo'))) {
    figures.push({...base('time below the SLO'), previous: num(field(field(prev, 'slo'), 'secondsBelow')),
                  current: num(field(field(cur, 'slo'), 'secondsBelow'))});
  }
  figures.push({...base('residency violations'), isTime: false, unit: '',
                previous: num(field(prev, 'residencyViolations')), current: num(field(cur, 'residencyViolations'))});
  const unplaced = (r) => list(field(r, 'unplaced')).reduce((n, u) => n + (isNumber(field(u, 'replicas')) ? u.replicas : 0), 0);
  figures.push({...base('replicas left unplaced'), isTime: false, unit: '', previous: unplaced(prev), current: unplaced(cur)});
  return figures.map((f) => ({figure: f.name, previous: printFigure(f.previous, f.previousUnreached, f),
                              current: printFigure(f.current, f.currentUnreached, f), verdict: verdict(f)}));
}

// `drill` with report.comparedWithPrevious attached, as fedctl attaches it (a copy; `drill`
// itself when it has no report or no previous drill among `drills`).
export function withComparison(drill, drills) {
  const report = field(field(drill, 'status'), 'report');
  if (!isObject(report)) return drill;
  const previous = previousDrillOf(drill, drills);
  if (!previous) return drill;
  const comparedWithPrevious = {previous: str(field(previous, 'metadata'), 'name'),
                                figures: compareDrillReports(previous.status.report, report)};
  return {...drill, status: {...drill.status, report: {...report, comparedWithPrevious}}};
}
