// Fleet view: regions grouped by continent (laid out as on a world map), each with its members,
// their zones, health, jurisdiction and replicas ready/desired; live through the watches, so a
// failing member or zone turns red as soon as the API records it.
import {h, replace} from './dom.js';
import {CONTINENTS, continentOf, memberReady, memberZones, replicasByCluster} from './model.js';

export function renderFleet(main, ctx) {
  let marked = false, markedMembers = false;
  // Region cards by region, with the data they were drawn from: a redraw builds only the
  // regions that changed (a 1,000-member fleet under 100 changes/s redraws a few cards).
  const cards = new Map();
  let lastShape = '';
  const draw = () => {
    const start = performance.now();
    const members = ctx.members.list();
    // Sums over part of the workloads would be wrong numbers, not just incomplete ones: replicas
    // are drawn once the workloads are listed (members as soon as theirs are).
    const replicas = ctx.workloads.loaded ? replicasByCluster(ctx.workloads.list()) : null;
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
          const el = cachedRegionCard(r, ms, replicas, cards);
          if (before && before !== el) before.replaceWith(el);
        }
      }
    } else {
      lastShape = shape;
      replace(main, h('h1', {}, 'Fleet'), error, summary,
        h('div', {class: 'world'}, shown.map(([k, label]) => continentCard(k, label, tree.get(k), replicas, known, cards))));
    }
    // For the browser's performance API (bench/console): each redraw, and the first complete
    // one, including style and layout (reading offsetHeight does now what the frame would do).
    void main.offsetHeight;
    performance.measure('meridian:fleet-draw', {start});
    if (!markedMembers && ctx.members.loaded) {
      markedMembers = true;
      performance.mark('meridian:fleet-members');  // every member drawn, replicas maybe not yet
    }
    if (!marked && ctx.members.loaded && ctx.workloads.loaded) {
      marked = true;
      performance.mark('meridian:fleet-ready');
    }
  };
  draw();
  const offs = [ctx.members.onChange(draw), ctx.workloads.onChange(() => ctx.workloads.loaded && draw())];
  return () => offs.forEach((off) => off());
}

function continentCard(key, label, regions, replicas, known, cards) {
  const names = [...regions.keys()].sort();
  return h('section', {class: known.has(key) ? 'continent' : 'continent other', 'data-continent': key,
                       'aria-label': label},
    h('h2', {}, label),
    h('div', {class: 'regions'}, names.map((r) => cachedRegionCard(r, regions.get(r), replicas, cards))));
}

function cachedRegionCard(region, members, replicas, cards) {
  members.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const sig = JSON.stringify(members.map((m) => [m.metadata.name, m.metadata.resourceVersion]));
  let card = cards.get(region);
  if (!card || card.sig !== sig) {
    card = {sig, ...regionCard(region, members)};
    cards.set(region, card);
  }
  showReplicas(card, members, replicas);
  return card.el;
}

// Replica figures change with the workloads, the members seldom: they are written into the
// cards' text in place, so that workloads arriving or changing rebuild no card.
function showReplicas(card, members, replicas) {
  let ready = 0, desired = 0;
  for (const m of members) {
    const r = replicas && (replicas.get(m.metadata.name) || {ready: 0, desired: 0});
    if (r) {
      ready += r.ready;
      desired += r.desired;
    }
    setText(card.memberReplicas.get(m.metadata.name), replicasText(r));
  }
  setText(card.regionReplicas, replicasText(replicas && {ready, desired}));
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
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
  const regionReplicas = h('span', {});
  const memberReplicas = new Map(members.map((m) => [m.metadata.name, h('span', {class: 'muted'})]));
  const el = h('article', {class: `region ${state}`, 'data-region': region, 'data-state': state,
                           'aria-label': `Region ${region}: ${stateText}`},
    h('h3', {}, h('span', {}, region),
      h('span', {class: `badge ${state === 'healthy' ? 'ok' : 'bad'}`}, stateText)),
    h('div', {class: 'muted'}, `jurisdiction ${[...jurisdictions].join(', ') || '-'} · replicas `, regionReplicas),
    members.map((m) => memberRow(m, memberReplicas.get(m.metadata.name))));
  return {el, regionReplicas, memberReplicas};
}

function memberRow(m, replicasSpan) {
  const ok = memberReady(m);
  const reason = ok ? '' : ((m.status && (m.status.conditions || []).find((c) => c.type === 'Ready')) || {}).message || 'not ready';
  const zones = memberZones(m);
  return h('div', {class: ok ? 'member' : 'member failing', 'data-member': m.metadata.name, 'data-ready': String(ok)},
    h('div', {}, h('span', {class: 'name'}, m.metadata.name), ' ',
      h('span', {class: ok ? 'badge ok' : 'badge bad'}, ok ? 'Ready' : 'Not ready'), ' ',
      replicasSpan),
    ok ? null : h('div', {class: 'muted'}, reason),
    h('ul', {class: 'zones', 'aria-label': `Zones of ${m.metadata.name}`},
      [...zones].map(([z, healthy]) => h('li', {class: healthy ? 'zone' : 'zone failing', 'data-zone': z},
        healthy ? z : `${z} (failing)`))));
}

// `r` null while the workloads are still being listed.
function replicasText(r) {
  return r ? `ready ${r.ready} / desired ${r.desired}` : '(listing workloads…)';
}
