// End-to-end test of the investigation UI: a real `chainwatch serve` on a simulated chain,
// driven in Debian's headless Chromium by playwright-core. Screenshots go to
// web/test-artifacts/. Needs the built binary (`cargo build -p chainwatch`; CHAINWATCH_BIN
// overrides) and /usr/bin/chromium (CHROMIUM overrides).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const artifacts = path.join(root, 'web/test-artifacts');
const bin =
  process.env.CHAINWATCH_BIN ||
  ['target/debug/chainwatch', 'target/release/chainwatch'].map((p) => path.join(root, p)).find((p) => fs.existsSync(p));

let dir, victim, receiver, server, browser, base, tokens = {}, truth, reportId, trace;

function cw(...args) {
  return execFileSync(bin, ['--data', path.join(dir, 'data'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function freePort() {
  return new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

async function api(method, p, token, body) {
  const r = await fetch(base + p, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${p}: ${r.status} ${text}`);
  return JSON.parse(text);
}

async function waitTrace(id, token) {
  for (let i = 0; i < 600; i++) {
    const t = await api('GET', `/api/reports/${id}/trace`, token);
    if (t.status === 'done') return t;
    assert.ok(!['failed', 'skipped'].includes(t.status), JSON.stringify(t));
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('trace not done');
}

const btc = (s) => (s / 1e8).toLocaleString('en-US', { minimumFractionDigits: 8, maximumFractionDigits: 8 }) + ' BTC';
const btcShort = (s) => (s / 1e8).toLocaleString('en-US', { maximumFractionDigits: 4 }) + ' BTC';

before(async () => {
  assert.ok(bin, 'build the binary first: cargo build -p chainwatch');
  fs.mkdirSync(artifacts, { recursive: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cw-ui-'));
  const sim = path.join(dir, 'sim');
  cw('sim', '--out', sim, '--seed', '7', '--blocks', '300', '--txs', '30000', '--chain', 'bitcoin-regtest');
  cw('ingest', '--blocks', path.join(sim, 'blocks'), '--chain', 'bitcoin-regtest');
  cw('tags', 'import', path.join(sim, 'tags.yaml'));
  cw('cluster');
  truth = JSON.parse(fs.readFileSync(path.join(sim, 'truth.json'), 'utf8'));
  victim = truth.theft.victim;
  const total = (d) => Object.values(d).reduce((s, x) => s + (typeof x === 'number' ? x : x.sats ?? 0), 0);
  receiver = Object.entries(truth.stolen_deposits)
    .filter(([k]) => k !== victim)
    .sort((a, b) => total(b[1]) - total(a[1]))[0][0];
  for (const [name, kind] of [[victim, 'exchange'], [receiver, 'exchange'], ['nca', 'agency']]) {
    cw('admin', 'org', 'create', name, '--kind', kind);
    cw('admin', 'user', 'create', '--org', name, '--name', `${name}-analyst`);
    tokens[name] = JSON.parse(cw('admin', 'token', 'create', '--user', `${name}-analyst`, '--json')).token;
  }
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(bin, ['--data', path.join(dir, 'data'), 'serve', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr.on('data', (d) => (log += d));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base + '/healthz')).ok && /chain view (re)?loaded/.test(log)) break;
    } catch {
      /* not up yet */
    }
    assert.ok(i < 300, `server did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The signed-in organisation (the exchange that received most) registers its deposit addresses; the agency
  // files the heist report.
  await api('POST', `/api/orgs/${receiver}/addresses`, tokens[receiver], { addresses: truth.entities[receiver] });
  const sub = await api('POST', '/api/reports', tokens.nca, {
    victim, chain: 'bitcoin-regtest', time: '2024-01-01T00:00:00Z',
    stolen_outputs: truth.theft.outputs, tlp: 'GREEN', attribution: { actor: 'Lazarus Group' },
  });
  reportId = sub.id;
  trace = (await waitTrace(reportId, tokens.nca)).trace;
  assert.ok(trace.endpoints.length >= 2, 'the heist reaches several services');
  // playwright gives every launch a fresh, empty --user-data-dir of its own.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('sign in, graph and table match the trace API, expand, entity, live alert', { timeout: 180_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // Sign in (user name + API token as the password).
  await page.goto(base + '/');
  await page.fill('input[name=user]', `${receiver}-analyst`);
  await page.fill('input[name=secret]', 'wrong');
  await page.click('button[type=submit]');
  await page.waitForSelector('#signin-error:has-text("Wrong")');
  await page.fill('input[name=secret]', tokens[receiver]);
  await page.click('button[type=submit]');
  await page.waitForSelector(`#reports tr[data-id="${reportId}"]`);
  assert.match(await page.textContent('#top'), new RegExp(receiver));
  assert.equal(await page.getAttribute('.page-tlp .tlp', 'data-tlp'), 'GREEN');
  await page.screenshot({ path: path.join(artifacts, '1-reports.png') });

  // The report page: graph nodes and table rows for every endpoint, with the API's amounts.
  await page.click(`#reports tr[data-id="${reportId}"] a`);
  await page.waitForSelector('#endpoints tbody tr');
  await page.waitForFunction(() => window.__cw.cy && window.__cw.cy.nodes().length > 0);
  await page.waitForTimeout(800);
  assert.equal(await page.getAttribute('.page-tlp .tlp', 'data-tlp'), 'GREEN');
  const nodes = await page.evaluate(() => window.__cw.cy.nodes('.endpoint').map((n) => ({ id: n.id(), label: n.data('label'), sats: n.data('sats') })));
  assert.equal(nodes.length, trace.endpoints.length);
  for (const e of trace.endpoints) {
    const n = nodes.find((x) => x.id === `ep:${e.cluster_id}`);
    assert.ok(n, `no node for ${e.label}`);
    assert.equal(n.sats, e.sats);
    assert.equal(n.label, `${e.label}\n${btcShort(e.sats)}`);
    const row = await page.textContent(`#endpoints tr[data-cluster="${e.cluster_id}"]`);
    assert.ok(row.includes(e.label) && row.includes(btc(e.sats)) && row.includes(String(e.first_height)), row);
  }
  const edgeLabels = await page.evaluate(() => window.__cw.cy.edges('[?final]').map((e) => e.data('label')));
  for (const e of trace.endpoints) assert.ok(edgeLabels.includes(`${btcShort(e.sats)} · h ${e.first_height}`), `edge into ${e.label}`);
  await page.screenshot({ path: path.join(artifacts, '2-report-graph.png') });

  // Expand an endpoint by clicking its node on the canvas, then “Expand”.
  const target = trace.endpoints.find((e) => e.label.toLowerCase() === receiver) ?? trace.endpoints[0];
  await page.locator('#graph').scrollIntoViewIfNeeded();
  let box = await page.locator('#graph').boundingBox();
  const pos = await page.evaluate((id) => window.__cw.cy.getElementById(id).renderedPosition(), `ep:${target.cluster_id}`);
  await page.mouse.click(box.x + pos.x, box.y + pos.y);
  await page.waitForSelector('#node-expand');
  assert.match(await page.textContent('#details'), new RegExp(target.label));
  const before = await page.evaluate(() => window.__cw.cy.nodes('.address').length);
  await page.click('#node-expand');
  await page.waitForFunction((n) => window.__cw.cy.nodes('.address').length > n, before);
  const added = await page.evaluate(() => window.__cw.cy.nodes('.address').length);
  assert.equal(added - before, Math.min(30, target.arrivals.length));
  await page.waitForTimeout(1200);
  await page.screenshot({ path: path.join(artifacts, '3-expanded.png') });

  // Open an entity: click one of the new address nodes.
  await page.locator('#graph').scrollIntoViewIfNeeded();
  box = await page.locator('#graph').boundingBox();
  const addr = await page.evaluate(() => {
    const n = window.__cw.cy.nodes('.address')[0];
    return { address: n.data('address'), pos: n.renderedPosition() };
  });
  await page.mouse.click(box.x + addr.pos.x, box.y + addr.pos.y);
  await page.waitForSelector('#members');
  assert.ok(decodeURIComponent(page.url()).endsWith(`#/entities/${addr.address}`), page.url());
  const entity = await api('GET', `/api/entities/${addr.address}`, tokens[receiver]);
  assert.equal(await page.textContent('#cluster-id'), String(entity.cluster_id));
  assert.equal(await page.locator('#members tbody tr').count(), entity.addresses.length);
  // The endpoint's own entity (the service cluster) carries its tag, from the details panel.
  await page.goBack();
  await page.waitForFunction(() => window.__cw.cy && window.__cw.cy.nodes().length > 0);
  await page.locator('#graph').scrollIntoViewIfNeeded();
  box = await page.locator('#graph').boundingBox();
  const p2 = await page.evaluate((id) => window.__cw.cy.getElementById(id).renderedPosition(), `ep:${target.cluster_id}`);
  await page.mouse.click(box.x + p2.x, box.y + p2.y);
  await page.click('#node-entity');
  await page.waitForSelector('#members');
  assert.equal(await page.textContent('#cluster-id'), String(target.cluster_id));
  assert.match(await page.textContent('#tags'), new RegExp(target.label));
  assert.ok(await page.locator('.page-tlp .tlp').count());
  await page.click('#why button');
  await page.waitForSelector('#why-out ol.steps li, #why-out p');
  await page.screenshot({ path: path.join(artifacts, '4-entity.png') });

  // The alerts inbox, then a second report reaching the receiver arrives live over SSE.
  await page.click('#nav-alerts');
  await page.waitForSelector('#alerts tbody tr');
  await page.waitForSelector('.live.on');
  const rows = await page.locator('#alerts tbody tr.alert-row').count();
  const sub = await api('POST', '/api/reports', tokens[victim], {
    victim, chain: 'bitcoin-regtest', time: '2024-01-02T00:00:00Z',
    stolen_outputs: truth.theft.outputs, tlp: 'AMBER', attribution: { actor: 'Lazarus Group' },
  });
  await page.waitForSelector(`#alerts tr.fresh[data-report="${sub.id}"]`, { timeout: 60_000 });
  assert.equal(await page.locator('#alerts tbody tr.alert-row').count(), rows + 1);
  const order = ['CLEAR', 'GREEN', 'AMBER', 'AMBER+STRICT', 'RED'];
  const { alerts } = await api('GET', '/api/alerts', tokens[receiver]);
  const highest = alerts.map((a) => String(a.alert.tlp ?? 'AMBER').replace('TLP:', '')).sort((a, b) => order.indexOf(b) - order.indexOf(a))[0];
  assert.equal(await page.getAttribute('#alerts-tlp .tlp', 'data-tlp'), highest);
  await page.screenshot({ path: path.join(artifacts, '5-alert-live.png') });

  // Screening: one of the receiver's deposit addresses that received stolen funds.
  await page.click('a[href="#/screen"]');
  await page.fill('textarea[name=addresses]', `${target.arrivals[0].address}\nnot-an-address`);
  await page.click('#screen button');
  await page.waitForSelector('#screen-results tbody tr');
  assert.equal(await page.locator('#screen-results tbody tr').count(), 2);
  assert.notEqual(await page.getAttribute('#screen-tlp .tlp', 'data-tlp'), 'CLEAR');
  await page.screenshot({ path: path.join(artifacts, '6-screening.png') });

  assert.deepEqual(errors, []);
});
