// The live drill chart: ready replicas per region over the drill (seconds since the fault
// started), the failed span shaded, dashed markers for detected / re-placed / fully ready /
// aborted / restored / returned. The same picture as `fedctl drill report --svg`
// (cli/drill_chart.h), drawn in the page from status.report so it moves as samples arrive.
import {s} from './dom.js';

const W = 760, H = 320, L = 56, R = 140, T = 20, B = 40;
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22', '#ff7f0e'];
const MARKERS = [
  ['detectedMs', 'detected', '#4a5360'], ['replacedMs', 're-placed', '#1f77b4'],
  ['fullyReadyMs', 'fully ready', '#146c2e'], ['abortedMs', 'ABORTED', '#a4161a'],
  ['restoredMs', 'restored', '#6b21a8'], ['returnedMs', 'returned', '#0e7490'],
];

function niceStep(max, ticks) {
  const raw = max / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

export function drillChart(drill) {
  const report = (drill.status && drill.status.report) || {};
  const timeline = report.timeline || [];
  const events = report.events || {};
  const regions = [...new Set(timeline.flatMap((p) => Object.keys(p.readyByRegion || {})))].sort();
  let tMax = 1, yMax = 1;
  for (const p of timeline) {
    tMax = Math.max(tMax, (p.atMs || 0) / 1000);
    for (const v of Object.values(p.desiredByRegion || {})) yMax = Math.max(yMax, v);
    for (const v of Object.values(p.readyByRegion || {})) yMax = Math.max(yMax, v);
  }
  for (const [k] of MARKERS) if (typeof events[k] === 'number') tMax = Math.max(tMax, events[k] / 1000);
  const tStep = niceStep(tMax, 8), yStep = Math.max(1, niceStep(yMax, 5));
  const tEnd = Math.ceil(tMax / tStep) * tStep, yEnd = Math.ceil(yMax / yStep) * yStep;
  const pw = W - L - R, ph = H - T - B;
  const x = (t) => L + pw * t / tEnd, y = (v) => T + ph * (1 - v / yEnd);
  const phase = (drill.status && drill.status.phase) || 'Pending';
  const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'drill-chart',
                        'aria-label': `Ready replicas per region over drill ${drill.metadata.name} (${phase}), ${timeline.length} samples`,
                        'data-samples': timeline.length});
  if (timeline.length && typeof events.restoredMs === 'number') {
    svg.append(s('rect', {class: 'failed-span', x: x(0), y: T, width: x(Math.min(events.restoredMs / 1000, tEnd)) - x(0), height: ph, fill: '#eef0f3'}));
  }
  const yAxis = s('g', {class: 'axis y-axis'});
  for (let v = 0; v <= yEnd + 1e-9; v += yStep) {
    yAxis.append(s('line', {x1: L, x2: L + pw, y1: y(v), y2: y(v), stroke: '#e1e4e8'}),
                 s('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end'}, String(v)));
  }
  const xAxis = s('g', {class: 'axis x-axis'});
  for (let t = 0; t <= tEnd + 1e-9; t += tStep) {
    xAxis.append(s('text', {x: x(t), y: T + ph + 16, 'text-anchor': 'middle'}, `${Math.round(t * 10) / 10}s`));
  }
  xAxis.append(s('line', {x1: L, x2: L + pw, y1: T + ph, y2: T + ph, stroke: '#4a5360'}));
  svg.append(yAxis, xAxis);
  if (!timeline.length) {
    svg.append(s('text', {x: L + 10, y: T + 30, class: 'note'},
      report.mode === 'simulate' ? 'simulated drill: no timeline (nothing was changed)' : 'waiting for the first sample…'));
  }
  regions.forEach((r, i) => {
    const pts = timeline.map((p) => `${x((p.atMs || 0) / 1000).toFixed(1)},${y((p.readyByRegion || {})[r] || 0).toFixed(1)}`).join(' ');
    svg.append(s('polyline', {class: 'series', 'data-region': r, points: pts, fill: 'none', stroke: COLOURS[i % COLOURS.length], 'stroke-width': 2}));
  });
  const marks = s('g', {class: 'markers'});
  let n = 0;
  for (const [k, label, colour] of MARKERS) {
    if (typeof events[k] !== 'number') continue;
    const t = events[k] / 1000;
    // Labels step down so that markers at the same time stay readable.
    marks.append(s('line', {class: 'marker', 'data-event': label, x1: x(t), x2: x(t), y1: T, y2: T + ph, stroke: colour, 'stroke-dasharray': '4 3'}),
                 s('text', {x: x(t) + 3, y: T + 12 + (n++ % 4) * 13, fill: colour, 'font-size': 11}, label));
  }
  svg.append(marks);
  const legend = s('g', {class: 'legend'});
  regions.forEach((r, i) => {
    legend.append(s('line', {x1: W - R + 10, x2: W - R + 30, y1: T + 10 + i * 18, y2: T + 10 + i * 18, stroke: COLOURS[i % COLOURS.length], 'stroke-width': 3}),
                  s('text', {x: W - R + 36, y: T + 14 + i * 18}, r));
  });
  svg.append(legend);
  return svg;
}
