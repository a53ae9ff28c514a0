// The chainwatch investigation UI: hash routes over the REST API.
//   #/signin · #/reports · #/reports/ID · #/entities/ADDR · #/alerts · #/screen
import './style.css';
import type cytoscape from 'cytoscape';
import * as api from './api';
import { btc, csvCell, download, esc, maxTlp, short, tlpBadge, tlpName } from './format';
import { categoryColour, expandable, render, toggle, type Trace } from './graph';

const app = document.getElementById('app')!;
const top = document.getElementById('top')!;
let me: api.Me | null = null;
let stream: AbortController | null = null;
const live: any[] = [];
let liveState = false;
let unseen = 0;
const alertListeners = new Set<(a: any) => void>();

declare global {
  interface Window {
    __cw: { cy?: cytoscape.Core; trace?: Trace; alertsSeen: number };
  }
}
window.__cw = { alertsSeen: 0 };

function go(hash: string): void {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function header(): void {
  if (!me) {
    top.innerHTML = `<div class="brand">chainwatch</div>`;
    return;
  }
  top.innerHTML = `<div class="brand"><a href="#/reports">chainwatch</a></div>
    <nav>
      <a href="#/reports">Reports</a>
      <a href="#/alerts" id="nav-alerts">Alerts${unseen ? ` <span class="count">${unseen}</span>` : ''}</a>
      <a href="#/screen">Screening</a>
    </nav>
    <div class="who"><span class="live ${liveState ? 'on' : ''}" title="alert stream">${liveState ? '● live' : '○ offline'}</span>
      ${esc(me.user)} · <b>${esc(me.org)}</b> (${esc(me.role)}) <button id="signout" class="link">Sign out</button></div>`;
  document.getElementById('signout')!.onclick = () => {
    api.signOut();
    stream?.abort();
    me = null;
    go('#/signin');
  };
}

function toast(html: string): void {
  const t = document.getElementById('toast')!;
  t.innerHTML = html;
  t.hidden = false;
  setTimeout(() => (t.hidden = true), 6000);
}

function startStream(): void {
  stream?.abort();
  stream = new AbortController();
  api.streamAlerts(
    (a) => {
      live.unshift(a);
      window.__cw.alertsSeen++;
      if (!location.hash.startsWith('#/alerts')) unseen++;
      header();
      const al = a.alert ?? {};
      toast(`New alert: <b>${esc(al.title ?? al.report)}</b> reached ${esc(me?.org)} — ${btc(al.sats)} ${tlpBadge(alertTlp(a))}`);
      alertListeners.forEach((f) => f(a));
    },
    (on) => {
      liveState = on;
      header();
    },
    stream.signal,
  );
}

function pageTlp(t: string, what: string): string {
  return `<div class="page-tlp">${tlpBadge(t, what)} <span class="muted">${esc(what)}</span></div>`;
}

function failure(e: unknown): void {
  if (e instanceof api.ApiError && e.status === 401) {
    api.signOut();
    me = null;
    go('#/signin');
    return;
  }
  app.innerHTML = `<p class="error">${esc((e as Error).message ?? e)}</p>`;
}

// ---------------------------------------------------------------- sign-in
function signin(): void {
  header();
  app.innerHTML = `<form id="signin" class="card narrow">
    <h1>Sign in</h1>
    <label>User <input name="user" autocomplete="username" required></label>
    <label>Password or API token <input name="secret" type="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button>
    <p class="error" id="signin-error"></p>
    <p class="muted">Organisations share theft reports under TLP 2.0; you see what your organisation may read.</p>
  </form>`;
  const f = document.getElementById('signin') as HTMLFormElement;
  f.onsubmit = async (ev) => {
    ev.preventDefault();
    const d = new FormData(f);
    api.setCredentials(String(d.get('user')).trim(), String(d.get('secret')));
    try {
      me = await api.get<api.Me>('/api/me');
      startStream();
      go('#/reports');
    } catch (e) {
      api.signOut();
      document.getElementById('signin-error')!.textContent = e instanceof api.ApiError && e.status === 401 ? 'Wrong user name or password.' : String((e as Error).message);
    }
  };
}

// ---------------------------------------------------------------- reports
async function reports(): Promise<void> {
  const { reports } = await api.get<{ reports: any[] }>('/api/reports?limit=1000');
  const chains = [...new Set(reports.map((r) => r.summary?.chain).filter(Boolean))];
  app.innerHTML = `${pageTlp(maxTlp(reports.map((r) => r.tlp)), 'highest TLP of the reports listed')}
    <h1>Theft reports</h1>
    <div class="filters">
      <label>Chain <select id="f-chain"><option value="">all</option>${chains.map((c) => `<option>${esc(c)}</option>`).join('')}</select></label>
      <label>Actor <input id="f-actor" placeholder="e.g. Lazarus"></label>
      <label>TLP <select id="f-tlp"><option value="">all</option><option>CLEAR</option><option>GREEN</option><option>AMBER</option><option>AMBER+STRICT</option><option>RED</option></select></label>
      <label>From <input id="f-from" type="date"></label>
      <label>To <input id="f-to" type="date"></label>
    </div>
    <table class="grid" id="reports"><thead><tr><th>TLP</th><th>Title</th><th>Chain</th><th>Victim</th><th>Actor</th><th>Author</th><th>Stolen outputs</th><th>Created</th></tr></thead><tbody></tbody></table>
    <details class="card"><summary>Submit a theft report</summary>
      <form id="submit">
        <label>Victim <input name="victim" required></label>
        <label>Chain <input name="chain" value="${esc(chains[0] ?? 'bitcoin')}" required></label>
        <label>Time of theft <input name="time" type="datetime-local" required></label>
        <label>Stolen outputs (txid:vout, one a line) <textarea name="outputs" rows="4" required></textarea></label>
        <label>Attacker addresses (one a line) <textarea name="attackers" rows="2"></textarea></label>
        <label>Actor <input name="actor"></label>
        <label>TLP <select name="tlp"><option>CLEAR</option><option selected>GREEN</option><option>AMBER</option><option>AMBER+STRICT</option><option>RED</option></select></label>
        <button type="submit">Submit</button> <span id="submit-result"></span>
      </form>
    </details>`;
  const tbody = app.querySelector('#reports tbody')!;
  const draw = () => {
    const chain = (document.getElementById('f-chain') as HTMLSelectElement).value;
    const actor = (document.getElementById('f-actor') as HTMLInputElement).value.trim().toLowerCase();
    const tlp = (document.getElementById('f-tlp') as HTMLSelectElement).value;
    const from = (document.getElementById('f-from') as HTMLInputElement).value;
    const to = (document.getElementById('f-to') as HTMLInputElement).value;
    const rows = reports.filter(
      (r) =>
        (!chain || r.summary?.chain === chain) &&
        (!actor || String(r.actor ?? '').toLowerCase().includes(actor)) &&
        (!tlp || tlpName(r.tlp) === tlp) &&
        (!from || r.created.slice(0, 10) >= from) &&
        (!to || r.created.slice(0, 10) <= to),
    );
    tbody.innerHTML = rows.length
      ? rows
          .map(
            (r) => `<tr class="report-row" data-id="${esc(r.id)}"><td>${tlpBadge(r.tlp)}</td><td><a href="#/reports/${encodeURIComponent(r.id)}">${esc(r.title)}</a></td>
        <td>${esc(r.summary?.chain)}</td><td>${esc(r.summary?.victim)}</td><td>${esc(r.actor ?? '')}</td><td>${esc(r.author)}</td>
        <td>${esc(r.summary?.stolen_outputs ?? '')}</td><td>${esc(r.created.replace('T', ' ').slice(0, 16))}</td></tr>`,
          )
          .join('')
      : `<tr><td colspan="8" class="muted">No reports match.</td></tr>`;
  };
  app.querySelectorAll('.filters input, .filters select').forEach((el) => el.addEventListener('input', draw));
  draw();
  const f = document.getElementById('submit') as HTMLFormElement;
  f.onsubmit = async (ev) => {
    ev.preventDefault();
    const d = new FormData(f);
    const lines = (k: string) => String(d.get(k) ?? '').split(/\s+/).map((s) => s.trim()).filter(Boolean);
    const body: any = {
      victim: d.get('victim'), chain: d.get('chain'), time: new Date(String(d.get('time'))).toISOString(),
      stolen_outputs: lines('outputs'), attacker_addresses: lines('attackers'), tlp: d.get('tlp'),
    };
    if (String(d.get('actor') ?? '').trim()) body.attribution = { actor: String(d.get('actor')).trim() };
    const out = document.getElementById('submit-result')!;
    try {
      const r = await api.post('/api/reports', body);
      go(`#/reports/${encodeURIComponent(r.id)}`);
    } catch (e) {
      out.textContent = String((e as Error).message);
      out.className = 'error';
    }
  };
}

// ---------------------------------------------------------------- report page
async function report(id: string): Promise<void> {
  const rep = await api.get(`/api/reports/${encodeURIComponent(id)}`);
  const r = rep.report ?? rep;
  const s = r.summary ?? {};
  app.innerHTML = `${pageTlp(r.tlp, 'this report and its findings')}
    <h1>${esc(r.title)}</h1>
    <p class="muted">${esc(s.chain)} · victim ${esc(s.victim)} · actor ${esc(r.actor ?? 'unknown')} · by ${esc(r.author)} · ${esc(r.created)} · <code>${esc(r.id)}</code></p>
    <div id="trace-status" class="muted">Loading the trace…</div>`;
  let t: any;
  for (let i = 0; i < 120; i++) {
    t = await api.get(`/api/reports/${encodeURIComponent(id)}/trace`);
    if (t.status !== 'queued' && t.status !== 'running' && t.status !== 'none') break;
    if (t.status === 'none' && i > 10) break;
    document.getElementById('trace-status')!.textContent = `Trace ${t.status}…`;
    await new Promise((res) => setTimeout(res, 500));
    if (!location.hash.startsWith('#/reports/')) return;
  }
  if (!t.trace) {
    document.getElementById('trace-status')!.textContent = `No trace (${t.status}${t.reason ? ': ' + t.reason : ''}).`;
    return;
  }
  const trace: Trace = t.trace;
  window.__cw.trace = trace;
  const st = document.getElementById('trace-status')!;
  st.innerHTML = `Traced ${btc(trace.source_sats)} from ${trace.sources.length} outputs by ${esc(t.method)} at height ${esc(t.height)}:
    ${trace.endpoints.length} endpoints, ${btc(trace.held_sats)} held, ${btc(trace.fees_sats)} fees.
    ${t.reached?.length ? `Reached members: ${t.reached.map((x: any) => `<b>${esc(x.org)}</b> (${btc(x.sats)})`).join(', ')}.` : ''}`;
  const wrap = document.createElement('div');
  wrap.className = 'report-body';
  wrap.innerHTML = `<section class="graph-pane">
      <div class="toolbar">
        <button id="exp-png">Export PNG</button><button id="exp-csv">Export CSV</button><button id="exp-stix">Export STIX bundle</button>
        <button id="relayout">Re-layout</button>
        <span class="legend">${['exchange', 'mixing_service', 'gambling', 'other'].map((c) => `<i style="background:${categoryColour(c)}"></i>${c}`).join(' ')}
          <i class="lg-peel"></i>peel chain <i class="lg-cj"></i>CoinJoin <i class="lg-held"></i>held</span>
      </div>
      <div id="graph"></div>
      <div id="details" class="card muted">Click a node for details; double-click (or “Expand”) to expand it; click an address to open its entity.</div>
    </section>
    <section class="table-pane">
      <h2>Endpoints</h2>
      <table class="grid" id="endpoints"><thead><tr><th>Service</th><th>Category</th><th class="num">Amount</th><th class="num">%</th><th class="num">First height</th><th class="num">Hops</th><th class="num">Arrivals</th></tr></thead>
      <tbody>${trace.endpoints
        .map(
          (e) => `<tr data-cluster="${e.cluster_id}"><td><span class="dot" style="background:${categoryColour(e.category)}"></span>
          <a href="#/entities/cluster:${e.cluster_id}">${esc(e.label)}</a></td>
          <td>${esc(e.category)}</td><td class="num sats" data-sats="${e.sats}">${btc(e.sats)}</td><td class="num">${((100 * e.sats) / trace.source_sats).toFixed(1)}</td>
          <td class="num">${e.first_height}</td><td class="num">${e.min_hops}</td><td class="num">${e.arrivals?.length ?? 0}</td></tr>`,
        )
        .join('')}
        <tr class="sub"><td>Held (unspent)</td><td>${trace.held_clusters} clusters</td><td class="num">${btc(trace.held_sats)}</td><td class="num">${((100 * trace.held_sats) / trace.source_sats).toFixed(1)}</td><td colspan="3"></td></tr>
        <tr class="sub"><td>Fees</td><td></td><td class="num">${btc(trace.fees_sats)}</td><td class="num">${((100 * trace.fees_sats) / trace.source_sats).toFixed(1)}</td><td colspan="3"></td></tr>
      </tbody></table>
      <h2>Patterns</h2>
      <ul class="patterns">${patternSummary(trace)}</ul>
    </section>`;
  app.appendChild(wrap);
  const details = document.getElementById('details')!;
  const cy = render(document.getElementById('graph')!, trace, s.victim ?? 'victim', {
    onOpenAddress: (a) => go(`#/entities/${encodeURIComponent(a)}`),
    onSelect: (n) => {
      if (!n) {
        details.innerHTML = 'Click a node for details; double-click (or “Expand”) to expand it.';
        return;
      }
      const d = n.data();
      const rows: [string, string][] = [['Kind', d.kind]];
      if (d.category) rows.push(['Category', d.category]);
      if (d.cluster_id != null) rows.push(['Cluster', String(d.cluster_id)]);
      if (d.sats != null) rows.push(['Amount', btc(d.sats)]);
      if (d.first_height != null) rows.push(['First height', String(d.first_height)]);
      if (d.min_hops != null) rows.push(['Min hops', String(d.min_hops)]);
      if (d.txid) rows.push(['Tx', d.txid]);
      details.innerHTML = `<b>${esc(String(d.label).split('\n')[0])}</b> ${n.hasClass('mixer') ? '<span class="tag warn">mixer</span>' : ''}
        <table class="kv">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
        ${expandable(n) ? `<button id="node-expand">${n.hasClass('expanded') ? 'Collapse' : 'Expand'}</button>` : ''}
        ${d.cluster_id != null ? `<button id="node-entity">Open entity</button>` : ''}`;
      const ex = document.getElementById('node-expand');
      if (ex) ex.onclick = () => {
        toggle(cy, trace, n);
        ex.textContent = n.hasClass('expanded') ? 'Collapse' : 'Expand';
      };
      const en = document.getElementById('node-entity');
      if (en) en.onclick = () => go(`#/entities/cluster:${d.cluster_id}`);
    },
  });
  window.__cw.cy = cy;
  document.getElementById('relayout')!.onclick = () => cy.layout({ name: 'fcose', animate: true } as any).run();
  document.getElementById('exp-png')!.onclick = () => download(`${id}.png`, cy.png({ output: 'blob', full: true, scale: 2, bg: '#ffffff' }) as unknown as Blob);
  document.getElementById('exp-csv')!.onclick = () => download(`${id}-findings.csv`, new Blob([findingsCsv(r, trace)], { type: 'text/csv' }));
  document.getElementById('exp-stix')!.onclick = async () => download(`${id}.stix.json`, await api.getBlob(`/api/reports/${encodeURIComponent(id)}/bundle`));
}

function patternSummary(trace: Trace): string {
  const by = new Map<string, { n: number; sats: number }>();
  for (const p of trace.patterns) {
    const k = p.kind === 'coinjoin' ? `CoinJoin (${p.detector})` : p.kind === 'mixer_deposit' ? `Mixer deposits into ${p.service}` : p.kind.replace('_', ' ');
    const v = by.get(k) ?? { n: 0, sats: 0 };
    v.n += p.kind === 'mixer_deposit' ? p.txids.length : 1;
    v.sats += p.sats;
    by.set(k, v);
  }
  return [...by].map(([k, v]) => `<li>${esc(k)}: ${v.n} · ${btc(v.sats)}</li>`).join('');
}

function findingsCsv(r: any, trace: Trace): string {
  const rows: unknown[][] = [['report', 'tlp', 'kind', 'label', 'category', 'cluster_id', 'address', 'txid', 'vout', 'height', 'sats', 'btc']];
  const tlp = `TLP:${tlpName(r.tlp)}`;
  for (const e of trace.endpoints) {
    rows.push([r.id, tlp, 'endpoint', e.label, e.category, e.cluster_id, '', '', '', e.first_height, e.sats, e.sats / 1e8]);
    for (const a of e.arrivals ?? []) rows.push([r.id, tlp, 'arrival', e.label, e.category, e.cluster_id, a.address, a.txid, a.vout, a.height, a.sats, a.sats / 1e8]);
  }
  for (const h of trace.held) rows.push([r.id, tlp, 'held', '', '', h.cluster_id, h.address, '', '', '', h.sats, h.sats / 1e8]);
  rows.push([r.id, tlp, 'fees', '', '', '', '', '', '', '', trace.fees_sats, trace.fees_sats / 1e8]);
  return rows.map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}

// ---------------------------------------------------------------- entity page
async function entity(address: string): Promise<void> {
  app.innerHTML = `<p class="muted">Loading ${esc(address)}…</p>`;
  const e = await api.get(`/api/entities/${encodeURIComponent(address)}`);
  app.innerHTML = `${pageTlp('CLEAR', 'public chain data and the node’s attribution tags')}
    <h1>Entity ${e.label ? esc(e.label) : `cluster ${e.cluster_id}`} ${e.category ? `<span class="tag" style="background:${categoryColour(e.category)}">${esc(e.category)}</span>` : ''}</h1>
    <p class="muted">${esc(e.chain)} · address <code>${esc(e.address)}</code> · cluster <b id="cluster-id">${e.cluster_id}</b> · ${e.address_count} addresses · received ${btc(e.total_received)}</p>
    ${e.conflicts.length ? `<p class="error">Conflicting labels in one cluster (possible false merge): ${e.conflicts.map(esc).join(' | ')}</p>` : ''}
    <div class="cols">
      <section><h2>Tags</h2>
        <table class="grid" id="tags"><thead><tr><th>Label</th><th>Category</th><th>Actor</th><th class="num">Confidence</th><th>Source</th><th>On</th></tr></thead><tbody>
        ${e.tags.length ? e.tags.map((t: any) => `<tr><td>${esc(t.label)}</td><td>${esc(t.category ?? '')}</td><td>${esc(t.actor ?? '')}</td><td class="num">${esc(t.confidence ?? '–')}</td><td>${esc(t.source)}</td><td>${t.direct ? 'this address' : `<a href="#/entities/${encodeURIComponent(t.address)}">${esc(short(t.address))}</a> (via cluster)`}</td></tr>`).join('') : '<tr><td colspan="6" class="muted">No tags.</td></tr>'}
        </tbody></table>
        <h2>Why linked</h2>
        <form id="why" class="inline"><input name="other" placeholder="another address of this cluster" value="${esc(e.addresses.find((a: any) => a.address !== e.address)?.address ?? '')}" size="48"><button>Explain</button></form>
        <div id="why-out"></div>
      </section>
      <section><h2>Addresses${e.addresses_truncated ? ` (first ${e.addresses.length} of ${e.address_count})` : ''}</h2>
        <table class="grid" id="members"><thead><tr><th>Address</th><th class="num">Received</th><th class="num">Outputs</th><th></th></tr></thead><tbody>
        ${e.addresses.map((a: any) => `<tr><td><a href="#/entities/${encodeURIComponent(a.address)}">${esc(a.address)}</a></td><td class="num">${btc(a.received)}</td><td class="num">${a.outputs}</td><td><button class="link why-btn" data-a="${esc(a.address)}">why?</button></td></tr>`).join('')}
        </tbody></table></section>
    </div>`;
  const f = document.getElementById('why') as HTMLFormElement;
  const explain = async (other: string) => {
    const out = document.getElementById('why-out')!;
    out.textContent = 'Explaining…';
    try {
      const w = await api.get(`/api/entities/${encodeURIComponent(e.address)}/why/${encodeURIComponent(other)}`);
      out.innerHTML = !w.linked
        ? `<p>Not linked: cluster ${w.cluster_a} vs ${w.cluster_b}.</p>`
        : w.steps.length === 0
          ? '<p>Same address.</p>'
          : `<ol class="steps">${w.steps.map((s: any) => `<li><code>${esc(short(s.from))}</code> → <code>${esc(short(s.to))}</code> by <b>${esc(s.heuristic)}</b> in tx <code>${esc(short(s.txid, 8))}</code> (height ${s.height})</li>`).join('')}</ol>`;
    } catch (err) {
      out.innerHTML = `<p class="error">${esc((err as Error).message)}</p>`;
    }
  };
  f.onsubmit = (ev) => {
    ev.preventDefault();
    explain(String(new FormData(f).get('other')).trim());
  };
  app.querySelectorAll<HTMLButtonElement>('.why-btn').forEach((b) => (b.onclick = () => explain(b.dataset.a!)));
}

// ---------------------------------------------------------------- alerts
async function alerts(): Promise<void> {
  unseen = 0;
  header();
  const { alerts } = await api.get<{ alerts: any[] }>('/api/alerts?limit=200');
  const row = (a: any, fresh = false) => {
    const al = a.alert ?? {};
    const eps = (al.endpoints ?? []).map((e: any) => esc(e.label)).join(', ');
    const withheld = al.cleared === false;
    return `<tr class="alert-row ${fresh ? 'fresh' : ''}" data-id="${a.id}" data-report="${esc(al.report)}"><td>${tlpBadge(alertTlp(a))}</td>
      <td><a href="#/reports/${encodeURIComponent(al.report)}">${esc(al.title ?? al.report)}</a>${withheld ? ' <span class="muted">(details withheld: the report’s TLP does not reach you)</span>' : ''}</td><td>${esc(al.actor ?? '')}</td>
      <td class="num">${btc(al.sats)}</td><td>${eps}</td><td class="num">${(al.arrivals ?? []).length}</td>
      <td>${esc(a.created.replace('T', ' ').slice(0, 19))}</td>
      <td><select class="state" data-id="${a.id}">${['new', 'acknowledged', 'resolved'].map((s) => `<option ${s === a.state ? 'selected' : ''}>${s}</option>`).join('')}</select></td></tr>`;
  };
  const tlps = () => maxTlp([...alerts, ...live].map(alertTlp));
  app.innerHTML = `<div id="alerts-tlp">${pageTlp(tlps(), 'highest TLP of the alerts listed')}</div>
    <h1>Alerts for ${esc(me?.org)} <span class="live ${liveState ? 'on' : ''}">${liveState ? '● live' : '○ reconnecting'}</span></h1>
    <p class="muted">A report whose trace reaches an address your organisation registered raises an alert here at once.</p>
    <table class="grid" id="alerts"><thead><tr><th>TLP</th><th>Report</th><th>Actor</th><th class="num">Reached you</th><th>Via</th><th class="num">Arrivals</th><th>Raised</th><th>State</th></tr></thead>
    <tbody>${alerts.map((a) => row(a)).join('') || '<tr class="empty"><td colspan="8" class="muted">No alerts yet.</td></tr>'}</tbody></table>`;
  const tbody = app.querySelector('#alerts tbody')!;
  const wire = () =>
    app.querySelectorAll<HTMLSelectElement>('select.state').forEach(
      (s) =>
        (s.onchange = async () => {
          await api.post(`/api/alerts/${s.dataset.id}`, { state: s.value });
        }),
    );
  wire();
  const onAlert = (a: any) => {
    if (!document.body.contains(tbody)) {
      alertListeners.delete(onAlert);
      return;
    }
    unseen = 0;
    tbody.querySelector('tr.empty')?.remove();
    tbody.querySelector(`tr[data-id="${a.id}"]`)?.remove();
    tbody.insertAdjacentHTML('afterbegin', row(a, true));
    document.getElementById('alerts-tlp')!.innerHTML = pageTlp(tlps(), 'highest TLP of the alerts listed');
    wire();
  };
  alertListeners.add(onAlert);
}

/** An alert's TLP; one whose details are withheld is treated as AMBER, never as CLEAR. */
function alertTlp(a: any): string {
  return a.alert?.tlp ?? 'AMBER';
}

// ---------------------------------------------------------------- screening
function screen(): void {
  app.innerHTML = `<div id="screen-tlp">${pageTlp('CLEAR', 'results show exposure only to reports you may read')}</div>
    <h1>Screen addresses</h1>
    <form id="screen" class="card"><label>Addresses (one a line, up to 10,000)<textarea name="addresses" rows="6" required></textarea></label>
    <label>Indirect exposure up to <input name="hops" type="number" min="0" max="10" value="3"> payments</label><button>Screen</button></form>
    <div id="screen-out"></div>`;
  const f = document.getElementById('screen') as HTMLFormElement;
  f.onsubmit = async (ev) => {
    ev.preventDefault();
    const d = new FormData(f);
    const addresses = String(d.get('addresses')).split(/\s+/).filter(Boolean);
    const out = document.getElementById('screen-out')!;
    out.textContent = 'Screening…';
    try {
      const { results } = await api.post('/api/screen', { addresses, max_hops: Number(d.get('hops')) });
      const reps: string[] = JSON.stringify(results).match(/(incident|bundle|report)--[0-9a-f-]{36}/g) ?? [];
      const tl: string[] = [];
      for (const id of new Set(reps)) {
        try {
          const rp = await api.get(`/api/reports/${encodeURIComponent(id)}`);
          tl.push((rp.report ?? rp).tlp);
        } catch {
          /* not a report id */
        }
      }
      document.getElementById('screen-tlp')!.innerHTML = pageTlp(maxTlp(tl), 'highest TLP of the reports the results show exposure to');
      out.innerHTML = `<table class="grid" id="screen-results"><thead><tr><th>Address</th><th>Risk</th><th>Cluster</th><th>Tags</th><th>Exposure</th><th>Reasons</th></tr></thead><tbody>
        ${results
          .map(
            (r: any) => `<tr><td>${r.on_chain ? `<a href="#/entities/${encodeURIComponent(r.address)}">${esc(r.address)}</a>` : esc(r.address)}</td>
          <td><span class="risk risk-${esc(r.risk)}">${esc(r.error ? 'error' : r.risk)}</span></td><td>${esc(r.cluster_id ?? '')}</td>
          <td>${(r.tags ?? []).map((t: any) => esc(t.label ?? t.list ?? JSON.stringify(t))).join(', ')}</td>
          <td>${exposureCell(r.exposure)}</td>
          <td>${esc(r.error ?? (r.reasons ?? []).join('; '))}</td></tr>`,
          )
          .join('')}</tbody></table>`;
    } catch (e) {
      out.innerHTML = `<p class="error">${esc((e as Error).message)}</p>`;
    }
  };
}

/** Direct, entity (cluster) and indirect exposure of a screened address, summed per kind. */
function exposureCell(e: any): string {
  if (!e) return '';
  const parts: string[] = [];
  for (const [kind, label] of [['direct', 'direct'], ['cluster', 'entity'], ['indirect', 'indirect']] as const) {
    const list: any[] = e[kind] ?? [];
    if (list.length) {
      const sats = list.reduce((a, x) => a + (x.sats ?? 0), 0);
      parts.push(`${label} ${btc(sats)} (${list.length} report${list.length > 1 ? 's' : ''})`);
    }
  }
  return esc(parts.join('; '));
}

// ---------------------------------------------------------------- router
async function route(): Promise<void> {
  const h = location.hash || '#/reports';
  if (h === '#/signin' || !api.authHeader()) {
    signin();
    return;
  }
  try {
    if (!me) {
      me = await api.get<api.Me>('/api/me');
      startStream();
    }
    header();
    const [, page, arg] = h.split('/');
    const id = arg ? decodeURIComponent(h.slice(h.indexOf(arg))) : '';
    if (page === 'reports' && id) await report(id);
    else if (page === 'entities' && id) await entity(id);
    else if (page === 'alerts') await alerts();
    else if (page === 'screen') screen();
    else await reports();
  } catch (e) {
    failure(e);
  }
}

window.addEventListener('hashchange', route);
route();
