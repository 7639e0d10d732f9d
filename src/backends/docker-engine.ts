import Docker from 'dockerode';
import type { StartFailure } from './backend.js';
import type { GpuSpec } from '../pipeline/schema.js';

/** The Docker Engine's vocabulary as flux-train uses it: container labels, sizes, GPU requests, error texts. */

export const LABEL = {
  app: 'flux-train.app',
  run: 'flux-train.run',
  runDir: 'flux-train.run-dir',
  stage: 'flux-train.stage',
  stageId: 'flux-train.stage-id',
  round: 'flux-train.round',
  attempt: 'flux-train.attempt',
  fingerprint: 'flux-train.fingerprint',
} as const;

export interface DockerApiError {
  statusCode?: number;
  json?: { message?: string };
  message?: string;
}

export const apiMessage = (e: unknown): string => {
  const d = e as DockerApiError;
  return (d.json?.message ?? d.message ?? String(e)).trim();
};

export function engineAddress(): string {
  return process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock';
}

export function parseSize(s: string): number {
  const m = /^([0-9]+)([kmg]?)$/i.exec(s);
  if (!m) return 0;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Number(m[1]) * mult;
}

export function deviceRequests(g: GpuSpec): Docker.DeviceRequest[] {
  if (g === 'none') return [];
  if (g === 'all') return [{ Driver: '', Count: -1, Capabilities: [['gpu']] }];
  if (typeof g === 'number') return [{ Driver: '', Count: g, Capabilities: [['gpu']] }];
  return [{ Driver: '', DeviceIDs: g.split(','), Capabilities: [['gpu']] }];
}

export function abortPromise(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise(() => undefined);
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** The engine's words for a start that cannot work on this host, mapped to generic causes. */
export function startFailure(message: string): StartFailure {
  if (/could not select device driver .* with capabilities: \[\[gpu\]\]/.test(message)) return { message, cause: 'no-gpu-runtime' };
  if (/No such image|pull access denied|manifest unknown/.test(message)) return { message, cause: 'image-missing' };
  return { message };
}
