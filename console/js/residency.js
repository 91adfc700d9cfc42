// Residency: each ResidencyPolicy with the residency audit's verdict (Compliant condition,
// open violations, members it cannot see), and the residency-bound workloads with where
// their replicas run.
import {h, replace} from './dom.js';
import {condition, regionMap, residencyOf} from './model.js';

export function renderResidency(main, ctx) {
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
      h('p', {class: 'hint'}, 'The evidence ledger and the signed compliance report: fedctl residency verify / report.'));
  };
  draw();
  const offs = [ctx.policies.onChange(draw), ctx.members.onChange(draw), ctx.workloads.onChange(draw)];
  return () => offs.forEach((off) => off());
}
