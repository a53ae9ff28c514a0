// The REST client: credentials (user name + password or API token) kept in sessionStorage,
// sent as HTTP Basic on every call; the alert stream read with fetch (EventSource cannot
// send an Authorization header).

const KEY = 'chainwatch.auth';

export interface Me { user: string; role: string; org: string; org_identity: string }

export function authHeader(): string | null {
  const v = sessionStorage.getItem(KEY);
  return v ? 'Basic ' + v : null;
}

export function setCredentials(user: string, secret: string): void {
  const bytes = new TextEncoder().encode(`${user}:${secret}`);
  let bin = '';
  bytes.forEach((b) => (bin += String.fromCharCode(b)));
  sessionStorage.setItem(KEY, btoa(bin));
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const a = authHeader();
  if (a) headers.Authorization = a;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) {
    let msg = `${r.status} ${r.statusText}`;
    try {
      const j = await r.json();
      msg = j.description || j.error || j.title || msg;
    } catch {
      /* not JSON */
    }
    throw new ApiError(r.status, msg);
  }
  return r;
}

export async function get<T = any>(path: string): Promise<T> {
  return (await call('GET', path)).json();
}

export async function post<T = any>(path: string, body: unknown): Promise<T> {
  return (await call('POST', path, body)).json();
}

export async function getBlob(path: string): Promise<Blob> {
  return (await call('GET', path)).blob();
}

/** Reads `/api/alerts/stream` and calls `onAlert` per event until `signal` aborts; reconnects. */
export async function streamAlerts(onAlert: (a: any) => void, onState: (live: boolean) => void, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const a = authHeader();
      if (!a) return;
      const r = await fetch('/api/alerts/stream', { headers: { Authorization: a, Accept: 'text/event-stream' }, signal });
      if (!r.ok || !r.body) throw new Error(`stream ${r.status}`);
      onState(true);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (event === 'alert' && data.length) {
            try {
              onAlert(JSON.parse(data.join('\n')));
            } catch {
              /* ignore a malformed event */
            }
          }
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    onState(false);
    await new Promise((res) => setTimeout(res, 2000));
  }
}
