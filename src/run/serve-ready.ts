import { createServer } from 'node:net';
import { sleep } from '../util/sleep.js';
import { err, ok, type Result } from '../util/result.js';

/**
 * Building blocks of the serve stage (issue 15): a port no other server of this run holds, and the
 * readiness check. They are kept apart from the lifecycle so each can be tested against a real socket.
 */

/** How waiting for a server ended. `died` is checked between polls: a port clash only shows after the model loaded. */
export type ServeReadiness =
  | { kind: 'ready'; afterMs: number }
  | { kind: 'died'; afterMs: number; lastSeen: string }
  | { kind: 'timeout'; afterMs: number; lastSeen: string }
  | { kind: 'aborted' };

export interface ReadyProbe {
  /** the server's base URL, ending in /v1 */
  baseUrl: string;
  /** the name the server must list in GET /v1/models */
  model: string;
  timeoutMs: number;
  pollMs?: number;
  /** whether the server process (or container) still lives */
  alive: () => boolean | Promise<boolean>;
  signal?: AbortSignal;
}

/** Polls GET {baseUrl}/models until it lists `model`; "ready" is that listing, not an open port. */
export async function waitUntilServing(p: ReadyProbe): Promise<ServeReadiness> {
  const t0 = Date.now();
  let lastSeen = 'no answer yet';
  for (;;) {
    if (p.signal?.aborted) return { kind: 'aborted' };
    const seen = await listedModels(`${p.baseUrl.replace(/\/+$/, '')}/models`);
    if (seen.kind === 'listed' && seen.ids.includes(p.model)) return { kind: 'ready', afterMs: Date.now() - t0 };
    lastSeen = seen.kind === 'listed' ? `GET /v1/models lists ${seen.ids.length > 0 ? seen.ids.map((x) => JSON.stringify(x)).join(', ') : 'no model'}, not ${JSON.stringify(p.model)}` : seen.why;
    if (!(await p.alive())) return { kind: 'died', afterMs: Date.now() - t0, lastSeen };
    if (Date.now() - t0 >= p.timeoutMs) return { kind: 'timeout', afterMs: Date.now() - t0, lastSeen };
    await sleep(p.pollMs ?? 500);
  }
}

type Listed = { kind: 'listed'; ids: string[] } | { kind: 'no'; why: string };

async function listedModels(url: string): Promise<Listed> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    return { kind: 'no', why: `GET /v1/models: ${cause ?? (e as Error).message}` };
  }
  if (!res.ok) return { kind: 'no', why: `GET /v1/models answered HTTP ${res.status}` };
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return { kind: 'no', why: 'GET /v1/models answered something that is not JSON' };
  }
  const data = (body as { data?: unknown }).data;
  if (!Array.isArray(data)) return { kind: 'no', why: 'GET /v1/models answered JSON without a data list' };
  return { kind: 'listed', ids: data.flatMap((m) => (typeof (m as { id?: unknown }).id === 'string' ? [(m as { id: string }).id] : [])) };
}

/**
 * A free TCP port on this host that none of `held` (the ports this run's live servers hold) is: the
 * kernel picks it, so it is free now; a server that loses a race for it fails to bind, dies before it
 * is ready, and is reported as such. An error value (the host refuses to bind) names the cause.
 */
export async function freePort(held: ReadonlySet<number>, host = '127.0.0.1'): Promise<Result<number, string>> {
  for (let i = 0; i < 64; i++) {
    const port = await new Promise<Result<number, string>>((resolve) => {
      const srv = createServer();
      srv.once('error', (e) => resolve(err(`cannot bind a port on ${host}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
      srv.listen(0, host, () => {
        const a = srv.address();
        const p = typeof a === 'object' && a !== null ? a.port : 0;
        srv.close(() => resolve(ok(p)));
      });
    });
    if (!port.ok) return port;
    if (port.value > 0 && !held.has(port.value)) return port;
  }
  return err(`no free port on ${host} outside the ${held.size} this run holds after 64 tries`);
}
