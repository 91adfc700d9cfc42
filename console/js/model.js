// Derived views of the API objects, shared by the views (pure functions).

export const CONTINENTS = [
  ['north-america', 'North America'], ['europe', 'Europe'], ['asia', 'Asia'],
  ['south-america', 'South America'], ['africa', 'Africa'], ['oceania', 'Oceania'],
];

export function condition(o, type) {
  return ((o.status && o.status.conditions) || []).find((c) => c.type === type);
}

// A member is healthy when its Ready condition is True (the health controller's probes).
export function memberReady(m) {
  const c = condition(m, 'Ready');
  return Boolean(c && c.status === 'True');
}

// Zone name -> healthy, from spec.zones and status.zones (a zone without status counts healthy).
export function memberZones(m) {
  const zones = new Map(((m.spec && m.spec.zones) || []).map((z) => [z, true]));
  for (const z of (m.status && m.status.zones) || []) zones.set(z.name, z.healthy !== false);
  return zones;
}

export function continentOf(m) {
  return (m.metadata.labels && m.metadata.labels.continent) || 'other';
}

// {workloads, ready, desired} on member `m`, from its status.workloadSummary (kept by the
// member-summary controller); null while it has none.
export function memberWorkloads(m) {
  const s = m.status && m.status.workloadSummary;
  if (!s) return null;
  return {workloads: s.workloads || 0, ready: s.readyReplicas || 0, desired: s.desiredReplicas || 0};
}

// The jurisdictions a workload may run in: its own spec.placement.residency and every
// ResidencyPolicy naming its namespace (intersected, as placement does); null = anywhere.
export function residencyOf(w, policies) {
  let allowed = null;
  const meet = (list) => {
    allowed = allowed === null ? [...list] : allowed.filter((j) => list.includes(j));
  };
  const own = w.spec && w.spec.placement && w.spec.placement.residency;
  if (own && own.jurisdictions) meet(own.jurisdictions);
  for (const p of policies) {
    const ns = (p.spec && p.spec.namespaces) || [];
    if (ns.includes(w.metadata.namespace) && p.spec.jurisdictions) meet(p.spec.jurisdictions);
  }
  return allowed;
}

// Ready/placed per region for one workload: region -> {ready, placed}.
export function workloadRegions(w, regionOf) {
  const out = new Map();
  const at = (r) => {
    if (!out.has(r)) out.set(r, {ready: 0, placed: 0});
    return out.get(r);
  };
  const st = w.status || {};
  for (const p of st.placement || []) at(regionOf.get(p.cluster) || '?').placed += p.replicas || 0;
  for (const c of st.clusters || []) if (c.readyReplicas) at(regionOf.get(c.cluster) || '?').ready += c.readyReplicas;
  return out;
}

export function regionMap(members) {
  return new Map(members.map((m) => [m.metadata.name, (m.spec && m.spec.region) || '']));
}

// Every cluster's placement decision from a workload's status (api/explanation.h): the
// clusters holding replicas (explanation.clusters; a sentence left out is the first reason of
// the cluster's status.placement line), then those holding nothing, stored once per reason
// and detail (explanation.notPlaced), each with the sentence its own decision would have.
export function explainedDecisions(st) {
  const ex = (st && st.explanation) || {};
  const lines = new Map(((st && st.placement) || []).map((p) => [p.cluster, p]));
  const out = (ex.clusters || []).map((d) => {
    if (d.message || !(d.replicas > 0)) return d;
    const line = lines.get(d.cluster);
    return {...d, message: (line && line.reasons && line.reasons[0]) || ''};
  });
  for (const g of ex.notPlaced || []) {
    for (const cluster of g.clusters || []) {
      out.push({cluster, replicas: 0, reason: g.reason || '', message: `${cluster}: 0; ${g.message || ''}`});
    }
  }
  return out;
}
