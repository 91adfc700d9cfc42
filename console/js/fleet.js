// Fleet view: regions grouped by continent (laid out as on a world map), each with its members,
// their zones, health, jurisdiction and replicas ready/desired; live through the members' watch,
// so a failing member or zone turns red as soon as the API records it. Replicas come from each
// member's status.workloadSummary (the member-summary controller's sums): the view reads the
// members alone, never the workloads (10,000 of them were an 8 MiB LIST).
import {h, replace} from './dom.js';
import {CONTINENTS, continentOf, memberReady, memberZones, memberWorkloads} from './model.js';

export function renderFleet(main, ctx) {
  let marked = false;
  // Region cards by region, with the data they were drawn from: a redraw builds only the
  // regions that changed (a 1,000-member fleet under 100 changes/s redraws a few cards).
  const cards = new Map();
  let lastShape = '';
  const draw = () => {
    const start = performance.now();
    const members = ctx.members.list();
    // continent -> region -> members
    const tree = new Map();
    for (const m of members) {
      const c = continentOf(m), r = (m.spec && m.spec.region) || '(no region)';
      if (!tree.has(c)) tree.set(c, new Map());
      if (!tree.get(c).has(r)) tree.get(c).set(r, []);
      tree.get(c).get(r).push(m);
    }
    const failingMembers = members.filter((m) => !memberReady(m)).length;
    let failingZones = 0;
    for (const m of members) for (const ok of memberZones(m).values()) if (!ok) failingZones++;
    const known = new Set(CONTINENTS.map(([k]) => k));
    const continents = [...CONTINENTS, ...[...tree.keys()].filter((k) => !known.has(k)).sort().map((k) => [k, k])];
    const error = ctx.members.error ? h('p', {class: 'badge bad', role: 'alert'}, `Member clusters: ${ctx.members.error.message}`) : null;
    const summary = h('div', {class: 'summary', 'aria-live': 'polite'},
      h('span', {}, `${members.length} members`),
      h('span', {}, `${tree.size} continents`),
      h('span', {class: failingMembers ? 'badge bad' : 'badge ok'}, `${failingMembers} members failing`),
      h('span', {class: failingZones ? 'badge bad' : 'badge ok'}, `${failingZones} zones failing`));
    const shown = continents.filter(([k]) => tree.has(k));
    const shape = JSON.stringify([Boolean(error), shown.map(([k]) => [k, [...tree.get(k).keys()].sort()])]);
    if (shape === lastShape && main.querySelector('.world')) {
      // Same continents and regions: swap only the cards that changed, so that the browser
      // restyles and lays out those alone.
      main.querySelector('.summary').replaceWith(summary);
      for (const [k] of shown) {
        for (const [r, ms] of tree.get(k)) {
          const before = cards.get(r) && cards.get(r).el;
          const el = cachedRegionCard(r, ms, cards);
          if (before && before !== el) before.replaceWith(el);
        }
      }
    } else {
      lastShape = shape;
      replace(main, h('h1', {}, 'Fleet'), error, summary,
        h('div', {class: 'world'}, shown.map(([k, label]) => continentCard(k, label, tree.get(k), known, cards))));
    }
    // For the browser's performance API (bench/console): each redraw, and the first complete
    // one, including style and layout (reading offsetHeight does now what the frame would do).
    void main.offsetHeight;
    performance.measure('meridian:fleet-draw', {start});
    if (!marked && ctx.members.loaded) {
      // Members, zones and replicas are all in the members' LIST: drawn once it is.
      marked = true;
      performance.mark('meridian:fleet-members');
      performance.mark('meridian:fleet-ready');
    }
  };
  draw();
  const off = ctx.members.onChange(draw);
  return () => off();
}

function continentCard(key, label, regions, known, cards) {
  const names = [...regions.keys()].sort();
  return h('section', {class: known.has(key) ? 'continent' : 'continent other', 'data-continent': key,
                       'aria-label': label},
    h('h2', {}, label),
    h('div', {class: 'regions'}, names.map((r) => cachedRegionCard(r, regions.get(r), cards))));
}

// A region's card is rebuilt only when one of its members changed (resourceVersion).
function cachedRegionCard(region, members, cards) {
  members.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const sig = JSON.stringify(members.map((m) => [m.metadata.name, m.metadata.resourceVersion]));
  let card = cards.get(region);
  if (!card || card.sig !== sig) {
    card = {sig, el: regionCard(region, members)};
    cards.set(region, card);
  }
  return card.el;
}

// The card of a region's `members` (sorted), and where its replica figures go.
function regionCard(region, members) {
  let down = 0, zonesDown = 0;
  const jurisdictions = new Set();
  for (const m of members) {
    if (!memberReady(m)) down++;
    for (const ok of memberZones(m).values()) if (!ok) zonesDown++;
    if (m.spec && m.spec.jurisdiction) jurisdictions.add(m.spec.jurisdiction);
  }
  const state = down === members.length ? 'failing' : down || zonesDown ? 'degraded' : 'healthy';
  const stateText = state === 'failing' ? 'failing' : state === 'degraded' ? `${down} member(s), ${zonesDown} zone(s) failing` : 'healthy';
  // The region's sums over the members summarised so far (a member joins its sums once the
  // member-summary controller has written its status).
  const summaries = members.map(memberWorkloads).filter(Boolean);
  const regionReplicas = summaries.length ? replicasText({
    ready: summaries.reduce((n, s) => n + s.ready, 0),
    desired: summaries.reduce((n, s) => n + s.desired, 0)}) : replicasText(null);
  return h('article', {class: `region ${state}`, 'data-region': region, 'data-state': state,
                       'aria-label': `Region ${region}: ${stateText}`},
    h('h3', {}, h('span', {}, region),
      h('span', {class: `badge ${state === 'healthy' ? 'ok' : 'bad'}`}, stateText)),
    h('div', {class: 'muted'}, `jurisdiction ${[...jurisdictions].join(', ') || '-'} · replicas `, regionReplicas),
    members.map(memberRow));
}

function memberRow(m) {
  const summary = memberWorkloads(m);
  const ok = memberReady(m);
  const reason = ok ? '' : ((m.status && (m.status.conditions || []).find((c) => c.type === 'Ready')) || {}).message || 'not ready';
  const zones = memberZones(m);
  return h('div', {class: ok ? 'member' : 'member failing', 'data-member': m.metadata.name, 'data-ready': String(ok)},
    h('div', {}, h('span', {class: 'name'}, m.metadata.name), ' ',
      h('span', {class: ok ? 'badge ok' : 'badge bad'}, ok ? 'Ready' : 'Not ready'), ' ',
      h('span', {class: 'muted', 'data-replicas': ''},
        summary ? `${summary.workloads} workload(s) · ${replicasText(summary)}` : replicasText(null))),
    ok ? null : h('div', {class: 'muted'}, reason),
    h('ul', {class: 'zones', 'aria-label': `Zones of ${m.metadata.name}`},
      [...zones].map(([z, healthy]) => h('li', {class: healthy ? 'zone' : 'zone failing', 'data-zone': z},
        healthy ? z : `${z} (failing)`))));
}

// `r` null: the member-summary controller has not summarised the member yet.
function replicasText(r) {
  return r ? `ready ${r.ready} / desired ${r.desired}` : 'replicas not summarised yet';
}
