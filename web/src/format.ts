// Formatting helpers shared by the pages.

export function btc(sats: number | null | undefined): string {
  if (sats == null) return '–';
  return (sats / 1e8).toLocaleString('en-US', { minimumFractionDigits: 8, maximumFractionDigits: 8 }) + ' BTC';
}

export function short(s: string, n = 10): string {
  return s.length > 2 * n + 1 ? `${s.slice(0, n)}…${s.slice(-6)}` : s;
}

export function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const TLP_ORDER = ['CLEAR', 'WHITE', 'GREEN', 'AMBER', 'AMBER+STRICT', 'RED'];

/** `TLP:AMBER` / `amber` / `AMBER+STRICT` → `AMBER`… */
export function tlpName(t: string | null | undefined): string {
  const n = String(t ?? 'CLEAR').toUpperCase().replace(/^TLP:/, '');
  return n === 'WHITE' ? 'CLEAR' : n;
}

export function maxTlp(list: (string | null | undefined)[], floor = 'CLEAR'): string {
  let best = tlpName(floor);
  for (const t of list) {
    const n = tlpName(t);
    if (TLP_ORDER.indexOf(n) > TLP_ORDER.indexOf(best)) best = n;
  }
  return best;
}

export function tlpBadge(t: string | null | undefined, what = ''): string {
  const n = tlpName(t);
  const cls = n.toLowerCase().replace('+strict', '-strict');
  return `<span class="tlp tlp-${cls}" data-tlp="${esc(n)}" title="${esc(what)}">TLP:${esc(n)}</span>`;
}

export function download(name: string, blob: Blob): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

export function csvCell(v: unknown): string {
  const s = String(v ?? '');
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
