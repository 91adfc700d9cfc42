// Fleet view: regions grouped by continent (laid out as on a world map), each with its members,
// their zones, health, jurisdiction and replicas ready/desired; live through the watches, so a
// failing member or zone turns red as soon as the API records it.
import {h, replace} from './dom.js';
import {CONTINENTS, continentOf, memberReady, memberZones, replicasByCluster} from './model.js';

export function renderFleet(main, ctx) {
  const draw = () => {
    const members = ctx.members.list();
    const replicas = replicasByCluster(ctx.workloads.list());
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
    replace(main,
      h('h1', {}, 'Fleet'),
      error,
      h('div', {class: 'summary', 'aria-live': 'polite'},
        h('span', {}, `${members.length} members`),
        h('span', {}, `${tree.size} continents`),
        h('span', {class: failingMembers ? 'badge bad' : 'badge ok'}, `${failingMembers} members failing`),
        h('span', {class: failingZones ? 'badge bad' : 'badge ok'}, `${failingZones} zones failing`)),
      h('div', {class: 'world'},
        continents.filter(([k]) => tree.has(k)).map(([k, label]) => continentCard(k, label, tree.get(k), replicas, known))));
  };
  draw();
  const offs = [ctx.members.onChange(draw), ctx.workloads.onChange(draw)];
  return () => offs.forEach((off) => off());
}

function continentCard(key, label, regions, replicas, known) {
  const names = [...regions.keys()].sort();
  return h('section', {class: known.has(key) ? 'continent' : 'continent other', 'data-continent': key,
                       'aria-label': label},
    h('h2', {}, label),
    h('div', {class: 'regions'}, names.map((r) => regionCard(r, regions.get(r), replicas))));
}

function regionCard(region, members, replicas) {
  members.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  let ready = 0, desired = 0, down = 0, zonesDown = 0;
  const jurisdictions = new Set();
  for (const m of members) {
    const r = replicas.get(m.metadata.name) || {ready: 0, desired: 0};
    ready += r.ready;
    desired += r.desired;
    if (!memberReady(m)) down++;
    for (const ok of memberZones(m).values()) if (!ok) zonesDown++;
    if (m.spec && m.spec.jurisdiction) jurisdictions.add(m.spec.jurisdiction);
  }
  const state = down === members.length ? 'failing' : down || zonesDown ? 'degraded' : 'healthy';
  const stateText = state === 'failing' ? 'failing' : state === 'degraded' ? `${down} member(s), ${zonesDown} zone(s) failing` : 'healthy';
  return h('article', {class: `region ${state}`, 'data-region': region, 'data-state': state,
                       'aria-label': `Region ${region}: ${stateText}`},
    h('h3', {}, h('span', {}, region),
      h('span', {class: `badge ${state === 'healthy' ? 'ok' : 'bad'}`}, stateText)),
    h('div', {class: 'muted'}, `jurisdiction ${[...jurisdictions].join(', ') || '-'} · replicas ready ${ready} / desired ${desired}`),
    members.map((m) => memberRow(m, replicas.get(m.metadata.name) || {ready: 0, desired: 0})));
}

function memberRow(m, r) {
  const ok = memberReady(m);
  const reason = ok ? '' : ((m.status && (m.status.conditions || []).find((c) => c.type === 'Ready')) || {}).message || 'not ready';
  const zones = memberZones(m);
  return h('div', {class: ok ? 'member' : 'member failing', 'data-member': m.metadata.name, 'data-ready': String(ok)},
    h('div', {}, h('span', {class: 'name'}, m.metadata.name), ' ',
      h('span', {class: ok ? 'badge ok' : 'badge bad'}, ok ? 'Ready' : 'Not ready'), ' ',
      h('span', {class: 'muted'}, `ready ${r.ready} / desired ${r.desired}`)),
    ok ? null : h('div', {class: 'muted'}, reason),
    h('ul', {class: 'zones', 'aria-label': `Zones of ${m.metadata.name}`},
      [...zones].map(([z, healthy]) => h('li', {class: healthy ? 'zone' : 'zone failing', 'data-zone': z},
        healthy ? z : `${z} (failing)`))));
}
