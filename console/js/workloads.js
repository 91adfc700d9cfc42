// Workloads: the list (ready/desired per region, residency, Degraded reasons) and one
// workload's page (placement per cluster with the placement controller's reasons, overrides,
// DNS name and where clients are sent, events).
import {age, h, replace} from './dom.js';
import {condition, explainedDecisions, memberReady, regionMap, residencyOf, workloadRegions} from './model.js';

function residencyBadge(w, policies) {
  const allowed = residencyOf(w, policies);
  if (allowed === null) return h('span', {class: 'muted'}, 'anywhere');
  return h('span', {class: 'badge residency', title: 'data residency: may only run in these jurisdictions'},
    `resident: ${allowed.join(', ') || 'none'}`);
}

function degraded(w) {
  const c = condition(w, 'Degraded');
  return c && c.status === 'True' ? c : null;
}

export function renderWorkloads(main, ctx) {
  const draw = () => {
    const regionOf = regionMap(ctx.members.list());
    const policies = ctx.policies.list();
    const items = ctx.workloads.list().sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
    const shown = items.slice(0, 500);  // a wall screen's worth; the API has the rest
    replace(main,
      h('h1', {}, 'Workloads'),
      ctx.workloads.error ? h('p', {class: 'badge bad', role: 'alert'}, ctx.workloads.error.message) : null,
      h('table', {'aria-label': 'Federated workloads'},
        h('thead', {}, h('tr', {}, ['Workload', 'Ready', 'Per region (ready/placed)', 'Residency', 'Status'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, shown.map((w) => {
          const st = w.status || {};
          const d = degraded(w);
          const regions = [...workloadRegions(w, regionOf)].sort((a, b) => b[1].placed - a[1].placed);
          const name = `${w.metadata.namespace}/${w.metadata.name}`;
          return h('tr', {class: d ? 'failing' : '', 'data-workload': name},
            h('td', {}, h('a', {href: `#/workloads/${encodeURIComponent(w.metadata.namespace)}/${encodeURIComponent(w.metadata.name)}`}, name)),
            h('td', {}, `${st.readyReplicas || 0}/${st.desiredReplicas || 0}`),
            h('td', {}, regions.map(([r, v]) => `${r} ${v.ready}/${v.placed}`).join(', ') || '-'),
            h('td', {}, residencyBadge(w, policies)),
            h('td', {}, d ? h('span', {class: 'badge bad'}, `Degraded: ${d.reason || ''} ${d.message || ''}`.trim())
                          : h('span', {class: 'badge ok'}, 'OK')));
        }))),
      items.length > shown.length ? h('p', {class: 'muted'}, `${shown.length} of ${items.length} shown`) : null);
  };
  draw();
  const offs = [ctx.workloads.onChange(draw), ctx.members.onChange(draw), ctx.policies.onChange(draw)];
  return () => offs.forEach((off) => off());
}

export function renderWorkload(main, ctx, ns, name) {
  let events = [];
  let eventsError = null;
  const draw = () => {
    const w = ctx.workloads.get(`${ns}/${name}`);
    if (!w) {
      replace(main, h('h1', {}, `${ns}/${name}`), h('p', {}, ctx.workloads.loaded ? 'No such workload.' : 'Loading…'));
      return;
    }
    const members = new Map(ctx.members.list().map((m) => [m.metadata.name, m]));
    const st = w.status || {};
    const placed = new Map((st.placement || []).map((p) => [p.cluster, p]));
    const ready = new Map((st.clusters || []).map((c) => [c.cluster, c]));
    const retained = new Map((st.retained || []).map((p) => [p.cluster, p]));
    const decisions = explainedDecisions(st);
    const clusters = decisions.length ? decisions.map((d) => d.cluster) : [...placed.keys()];
    const d = degraded(w);
    const dns = w.spec && w.spec.dns;
    const serving = clusters.filter((c) => (ready.get(c) || {}).readyReplicas > 0 && members.get(c) && memberReady(members.get(c)));
    replace(main,
      h('p', {}, h('a', {href: '#/workloads'}, '← Workloads')),
      h('h1', {}, `${ns}/${name}`),
      h('div', {class: 'summary'},
        h('span', {}, `${st.readyReplicas || 0} of ${st.desiredReplicas || 0} replicas ready`),
        st.unplacedReplicas ? h('span', {class: 'badge bad'}, `${st.unplacedReplicas} unplaced`) : null,
        residencyBadge(w, ctx.policies.list()),
        d ? h('span', {class: 'badge bad'}, `Degraded: ${d.reason || ''} ${d.message || ''}`.trim()) : h('span', {class: 'badge ok'}, 'not degraded')),
      h('h2', {}, 'Placement'),
      h('table', {'aria-label': 'Placement per member cluster'},
        h('thead', {}, h('tr', {}, ['Cluster', 'Region', 'Replicas', 'Ready', 'Zones', 'Reason'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, clusters.map((c) => {
          const dec = decisions.find((x) => x.cluster === c) || {};
          const p = placed.get(c) || {};
          const m = members.get(c);
          const zones = Object.entries(p.zones || {}).map(([z, n]) => `${z}: ${n}`).join(', ');
          const kept = retained.get(c);
          return h('tr', {class: m && !memberReady(m) ? 'failing' : '', 'data-cluster': c},
            h('td', {}, c), h('td', {}, (m && m.spec.region) || ''),
            h('td', {}, String(p.replicas || 0), kept ? ` (+${kept.replicas} retained)` : ''),
            h('td', {}, String((ready.get(c) || {}).readyReplicas || 0)),
            h('td', {}, zones || '-'),
            h('td', {}, dec.reason ? h('span', {}, h('strong', {}, dec.reason), ` ${dec.message || ''}`) : (p.reasons || []).join('; ')));
        }))),
      h('h2', {}, 'DNS'),
      dns && dns.name
        ? h('p', {}, h('code', {}, dns.name), ` (${dns.strategy || 'geo'}, TTL ${dns.ttl || 30} s): clients are sent to `,
            serving.length ? serving.map((c) => `${c} (${(members.get(c).spec || {}).region})`).join(', ') : 'no member (none has ready replicas)')
        : h('p', {class: 'muted'}, 'No global DNS name (spec.dns).'),
      h('h2', {}, 'Overrides'),
      (w.spec.overrides || []).length
        ? h('ul', {}, w.spec.overrides.map((o) => h('li', {}, h('code', {}, JSON.stringify(o.clusterSelector || {})), ': ', h('code', {}, JSON.stringify(o.patches || [])))))
        : h('p', {class: 'muted'}, 'None.'),
      h('h2', {}, 'Events'),
      eventsError ? h('p', {class: 'badge bad'}, eventsError) : null,
      events.length
        ? h('table', {'aria-label': 'Events'},
            h('thead', {}, h('tr', {}, ['Age', 'Type', 'Reason', 'Message'].map((t) => h('th', {scope: 'col'}, t)))),
            h('tbody', {}, events.map((e) => h('tr', {class: e.type === 'Warning' ? 'failing' : ''},
              h('td', {}, age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp)), h('td', {}, e.type || ''),
              h('td', {}, e.reason || ''), h('td', {}, e.message || '')))))
        : h('p', {class: 'muted'}, 'No events.'));
  };
  const loadEvents = async () => {
    try {
      const list = await ctx.api.get(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`);
      events = list.items.filter((e) => e.involvedObject && e.involvedObject.name === name && e.involvedObject.kind === 'FederatedWorkload')
        .sort((a, b) => Date.parse(b.lastTimestamp || b.metadata.creationTimestamp) - Date.parse(a.lastTimestamp || a.metadata.creationTimestamp))
        .slice(0, 50);
      eventsError = null;
    } catch (e) {
      eventsError = `Events: ${e.message}`;
    }
    draw();
  };
  draw();
  loadEvents();
  const timer = setInterval(loadEvents, 5000);
  const offs = [ctx.workloads.onChange(draw), ctx.members.onChange(draw)];
  return () => { clearInterval(timer); offs.forEach((off) => off()); };
}
