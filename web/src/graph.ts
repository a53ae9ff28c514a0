// The fund-flow graph of a trace: the theft → patterns (peel chains, CoinJoins,
// consolidations) → endpoints (service clusters, coloured by category), plus what is held
// unspent and the fees. Peel chains, CoinJoin groups, endpoints and the held funds expand
// on demand into their addresses; address nodes open the entity page.

import cytoscape from 'cytoscape';
import fcose from 'cytoscape-fcose';
import { btc, short } from './format';

cytoscape.use(fcose);

export const CATEGORY_COLOURS: Record<string, string> = {
  exchange: '#2563eb',
  mixing_service: '#dc2626',
  mixer: '#dc2626',
  gambling: '#9333ea',
  darknet_market: '#7c2d12',
  sanctioned: '#000000',
  payment_processor: '#0891b2',
  other: '#64748b',
};

export function categoryColour(c: string | null | undefined): string {
  return CATEGORY_COLOURS[String(c ?? 'other')] ?? CATEGORY_COLOURS.other;
}

export interface Trace {
  endpoints: any[];
  held: any[];
  held_sats: number;
  held_clusters: number;
  fees_sats: number;
  patterns: any[];
  sources: string[];
  source_sats: number;
}

export interface GraphHandlers {
  onSelect: (n: cytoscape.NodeSingular | null) => void;
  onOpenAddress: (address: string) => void;
}

type El = cytoscape.ElementDefinition;

const btcShort = (s: number) => (s / 1e8).toLocaleString('en-US', { maximumFractionDigits: 4 }) + ' BTC';

/** The collapsed graph of a trace. */
export function elements(trace: Trace, victim: string): El[] {
  const els: El[] = [];
  const edges = new Map<string, El>();
  const edge = (source: string, target: string, data: Record<string, unknown> = {}) => {
    const id = `e:${source}->${target}`;
    const old = edges.get(id);
    if (old) {
      // An endpoint's own edge keeps the endpoint's total and first height.
      if (data.sats && !old.data.final) {
        old.data.sats = Number(old.data.sats ?? 0) + Number(data.sats);
        old.data.label = edgeLabel(old.data);
      }
      return;
    }
    const d: Record<string, unknown> = { id, source, target, ...data };
    d.label = edgeLabel(d);
    const e: El = { group: 'edges', data: d as any };
    edges.set(id, e);
  };
  els.push({
    group: 'nodes',
    data: { id: 'src', kind: 'source', label: `Theft from ${victim}\n${btcShort(trace.source_sats)}`, sats: trace.source_sats },
    classes: 'source',
  });
  // Patterns by txid.
  const byTx = new Map<string, string>();
  const cjGroups = new Map<string, any[]>();
  trace.patterns.forEach((p, i) => {
    let id: string;
    if (p.kind === 'peel_chain') {
      id = `peel:${i}`;
      els.push({
        group: 'nodes',
        data: { id, kind: 'peel_chain', pattern: i, label: `Peel chain\n${p.length} txs · ${btcShort(p.sats)}`, sats: p.sats },
        classes: 'pattern peel collapsed',
      });
    } else if (p.kind === 'coinjoin') {
      id = `cj:${p.detector}`;
      if (!cjGroups.has(id)) cjGroups.set(id, []);
      cjGroups.get(id)!.push(p);
    } else if (p.kind === 'consolidation') {
      id = 'consolidation';
    } else {
      return; // mixer deposits mark the mixer endpoint instead
    }
    for (const t of p.txids ?? []) if (!byTx.has(t)) byTx.set(t, id);
  });
  for (const [id, list] of cjGroups) {
    const sats = list.reduce((s, p) => s + p.sats, 0);
    els.push({
      group: 'nodes',
      data: { id, kind: 'coinjoin', detector: list[0].detector, count: list.length, label: `CoinJoin · ${list[0].detector}\n${list.length} txs · ${btcShort(sats)}`, sats },
      classes: 'pattern coinjoin collapsed',
    });
  }
  const cons = trace.patterns.filter((p) => p.kind === 'consolidation');
  if (cons.length) {
    const sats = cons.reduce((s, p) => s + p.sats, 0);
    els.push({
      group: 'nodes',
      data: { id: 'consolidation', kind: 'consolidation', label: `Consolidations\n${cons.length} txs · ${btcShort(sats)}`, sats },
      classes: 'pattern consolidation',
    });
  }
  const mixers = new Set(trace.patterns.filter((p) => p.kind === 'mixer_deposit').map((p) => p.service));
  const epByLabel = new Map<string, string>();
  for (const e of trace.endpoints) {
    const id = `ep:${e.cluster_id}`;
    epByLabel.set(e.label, id);
    const mixer = mixers.has(e.label) || /mix/i.test(e.category ?? '');
    els.push({
      group: 'nodes',
      data: {
        id, kind: 'endpoint', label: `${e.label}\n${btcShort(e.sats)}`, name: e.label, category: e.category,
        cluster_id: e.cluster_id, sats: e.sats, first_height: e.first_height, min_hops: e.min_hops,
        colour: categoryColour(e.category), address: e.arrivals?.[0]?.address ?? null,
      },
      classes: `endpoint collapsed${mixer ? ' mixer' : ''}`,
    });
    // The example path: the patterns it crosses, in order.
    const hops: string[] = [];
    for (const t of e.path ?? []) {
      const p = byTx.get(t);
      if (p && hops[hops.length - 1] !== p && !hops.includes(p)) hops.push(p);
    }
    let prev = 'src';
    for (const h of hops) {
      edge(prev, h);
      prev = h;
    }
    edge(prev, id, { sats: e.sats, height: e.first_height, hops: e.min_hops, final: true });
  }
  // Peel chains: where their peels went.
  trace.patterns.forEach((p, i) => {
    if (p.kind !== 'peel_chain') return;
    const id = `peel:${i}`;
    if (![...edges.values()].some((e) => e.data.target === id)) edge('src', id);
    for (const peel of p.peels ?? []) {
      const ep = peel.went_to ? epByLabel.get(peel.went_to) : undefined;
      if (ep) edge(id, ep, { sats: peel.sats, peel: true });
    }
  });
  for (const id of [...cjGroups.keys(), ...(cons.length ? ['consolidation'] : [])]) {
    if (![...edges.values()].some((e) => e.data.target === id)) edge('src', id);
  }
  if (trace.held_sats > 0) {
    els.push({
      group: 'nodes',
      data: { id: 'held', kind: 'held', label: `Held (unspent)\n${trace.held_clusters} clusters · ${btcShort(trace.held_sats)}`, sats: trace.held_sats },
      classes: 'held collapsed',
    });
    edge('src', 'held', { sats: trace.held_sats });
  }
  if (trace.fees_sats > 0) {
    els.push({ group: 'nodes', data: { id: 'fees', kind: 'fees', label: `Fees\n${btcShort(trace.fees_sats)}`, sats: trace.fees_sats }, classes: 'fees' });
    edge('src', 'fees', { sats: trace.fees_sats });
  }
  return [...els, ...edges.values()];
}

function edgeLabel(d: Record<string, unknown>): string {
  const parts: string[] = [];
  if (d.sats) parts.push(btcShort(Number(d.sats)));
  if (d.height != null) parts.push(`h ${d.height}`);
  return parts.join(' · ');
}

const STYLE: any[] = [
  {
    selector: 'node',
    style: {
      label: 'data(label)', 'text-wrap': 'wrap', 'font-size': 10, 'text-valign': 'bottom', 'text-margin-y': 4,
      'background-color': '#94a3b8', width: 28, height: 28, color: '#0f172a', 'text-background-color': '#ffffff',
      'text-background-opacity': 0.8, 'text-background-padding': '1px',
    },
  },
  { selector: 'node.source', style: { 'background-color': '#f59e0b', shape: 'star', width: 40, height: 40 } },
  { selector: 'node.endpoint', style: { 'background-color': 'data(colour)', shape: 'round-rectangle', width: 44, height: 30, 'font-weight': 'bold' } },
  { selector: 'node.mixer', style: { shape: 'octagon', 'border-width': 3, 'border-color': '#7f1d1d', 'border-style': 'dashed' } },
  { selector: 'node.peel', style: { 'background-color': '#fb923c', shape: 'barrel' } },
  { selector: 'node.coinjoin', style: { 'background-color': '#a855f7', shape: 'diamond', width: 34, height: 34 } },
  { selector: 'node.consolidation', style: { 'background-color': '#14b8a6', shape: 'triangle' } },
  { selector: 'node.held', style: { 'background-color': '#facc15', shape: 'hexagon' } },
  { selector: 'node.fees', style: { 'background-color': '#cbd5e1', width: 18, height: 18 } },
  { selector: 'node.address', style: { 'background-color': '#e2e8f0', 'border-width': 1, 'border-color': '#475569', width: 14, height: 14, 'font-size': 8 } },
  { selector: 'node.hop', style: { 'background-color': '#fdba74', width: 12, height: 12, 'font-size': 8 } },
  { selector: 'node.collapsed', style: { 'border-width': 2, 'border-color': '#334155' } },
  { selector: 'node:selected', style: { 'overlay-color': '#2563eb', 'overlay-opacity': 0.25, 'overlay-padding': 6 } },
  {
    selector: 'edge',
    style: {
      width: 1.5, 'line-color': '#94a3b8', 'target-arrow-color': '#94a3b8', 'target-arrow-shape': 'triangle',
      'curve-style': 'bezier', label: 'data(label)', 'font-size': 8, color: '#334155', 'text-rotation': 'autorotate',
      'text-background-color': '#ffffff', 'text-background-opacity': 0.8,
    },
  },
  { selector: 'edge[?final]', style: { width: 3, 'line-color': '#475569', 'target-arrow-color': '#475569' } },
  { selector: 'edge[?peel]', style: { 'line-style': 'dashed', 'line-color': '#fb923c', 'target-arrow-color': '#fb923c' } },
];

export function layout(cy: cytoscape.Core, animate = false): void {
  cy.layout({ name: 'fcose', animate, randomize: !animate, nodeRepulsion: 9000, idealEdgeLength: 110, nodeSeparation: 90, quality: 'default', fit: true, padding: 30 } as any).run();
}

export function render(container: HTMLElement, trace: Trace, victim: string, h: GraphHandlers): cytoscape.Core {
  const cy = cytoscape({ container, elements: elements(trace, victim), style: STYLE, minZoom: 0.1, maxZoom: 4 });
  layout(cy);
  cy.on('tap', 'node', (ev) => {
    const n = ev.target as cytoscape.NodeSingular;
    if (n.hasClass('address')) h.onOpenAddress(n.data('address'));
    else h.onSelect(n);
  });
  cy.on('dbltap', 'node', (ev) => toggle(cy, trace, ev.target));
  cy.on('tap', (ev) => {
    if (ev.target === cy) h.onSelect(null);
  });
  return cy;
}

export function expandable(n: cytoscape.NodeSingular): boolean {
  return ['peel_chain', 'coinjoin', 'endpoint', 'held'].includes(n.data('kind'));
}

/** Expands a collapsed node into its addresses (or collapses it back). */
export function toggle(cy: cytoscape.Core, trace: Trace, n: cytoscape.NodeSingular): void {
  if (!expandable(n)) return;
  const id = n.id();
  if (n.hasClass('expanded')) {
    cy.remove(cy.nodes(`[parentKey = "${id}"]`));
    n.removeClass('expanded').addClass('collapsed');
    layout(cy, true);
    return;
  }
  const add: cytoscape.ElementDefinition[] = [];
  const pos = n.position();
  const addr = (key: string, address: string, label: string, extra: Record<string, unknown> = {}) => {
    if (cy.getElementById(key).nonempty()) return;
    add.push({ group: 'nodes', data: { id: key, parentKey: id, kind: 'address', address, label, ...extra }, classes: 'address', position: { ...pos } });
  };
  const kind = n.data('kind');
  if (kind === 'peel_chain') {
    const p = trace.patterns[n.data('pattern')];
    let prev = id;
    (p.peels ?? []).forEach((peel: any, k: number) => {
      const hop = `${id}:hop:${k}`;
      add.push({ group: 'nodes', data: { id: hop, parentKey: id, kind: 'hop', label: `hop ${k + 1}`, txid: peel.txid }, classes: 'hop', position: { ...pos } });
      add.push({ group: 'edges', data: { id: `${hop}:in`, source: prev, target: hop, label: '' } });
      const a = `${id}:peel:${k}`;
      addr(a, peel.address, `${short(peel.address, 6)}\n${btcShort(peel.sats)}`);
      add.push({ group: 'edges', data: { id: `${a}:in`, source: hop, target: a, sats: peel.sats, label: btcShort(peel.sats), peel: true } });
      const ep = trace.endpoints.find((e) => e.label === peel.went_to);
      if (ep) add.push({ group: 'edges', data: { id: `${a}:out`, source: a, target: `ep:${ep.cluster_id}`, label: '' } });
      prev = hop;
    });
  } else if (kind === 'coinjoin') {
    const list = trace.patterns.filter((p) => p.kind === 'coinjoin' && p.detector === n.data('detector'));
    list.slice(0, 40).forEach((p, k) => {
      const t = `${id}:tx:${k}`;
      add.push({ group: 'nodes', data: { id: t, parentKey: id, kind: 'hop', label: `${short(p.txids[0], 4)}\n${btcShort(p.sats)}`, txid: p.txids[0] }, classes: 'hop', position: { ...pos } });
      add.push({ group: 'edges', data: { id: `${t}:in`, source: id, target: t, label: '' } });
    });
  } else if (kind === 'endpoint') {
    const ep = trace.endpoints.find((e) => `ep:${e.cluster_id}` === id);
    (ep?.arrivals ?? []).slice(0, 30).forEach((a: any, k: number) => {
      const key = `${id}:arr:${k}`;
      addr(key, a.address, `${short(a.address, 6)}\n${btcShort(a.sats)}`);
      add.push({ group: 'edges', data: { id: `${key}:e`, source: key, target: id, sats: a.sats, height: a.height, label: `${btcShort(a.sats)} · h ${a.height}` } });
    });
  } else if (kind === 'held') {
    trace.held.slice(0, 25).forEach((hd: any, k: number) => {
      const key = `held:${k}`;
      addr(key, hd.address, `${short(hd.address, 6)}\n${btcShort(hd.sats)}`);
      add.push({ group: 'edges', data: { id: `${key}:e`, source: id, target: key, sats: hd.sats, label: btcShort(hd.sats) } });
    });
  }
  cy.add(add);
  n.removeClass('collapsed').addClass('expanded');
  layout(cy, true);
}

export { btc };
