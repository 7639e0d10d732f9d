import type { GpuSpec } from '../pipeline/schema.js';

/** What the pool says to a stage's `gpus`: these GPUs (undefined: the stage's own spec, unchanged), not now, or never. */
export type Grant = { kind: 'granted'; gpus: GpuSpec | undefined } | { kind: 'wait' } | { kind: 'never'; why: string };

/**
 * The GPUs stage instances share. A pool of known ids (a count, ids or ranges) hands out disjoint
 * ids; `all` (how many is unknown here) goes to one GPU stage at a time; `none` shares nothing, so
 * only --max-parallel limits what runs.
 */
export class GpuPool {
  readonly #ids: number[] | undefined;
  readonly #held = new Map<string, number[]>();
  #wholeHolder: string | undefined;

  constructor(readonly spec: GpuSpec) {
    if (typeof spec === 'number') this.#ids = Array.from({ length: spec }, (_, i) => i);
    else if (spec === 'all' || spec === 'none') this.#ids = undefined;
    else this.#ids = spec.split(',').map(Number);
  }

  get free(): number[] {
    const taken = new Set([...this.#held.values()].flat());
    return (this.#ids ?? []).filter((i) => !taken.has(i));
  }

  /** Takes GPUs for `key` when they are free; a `granted` must be given back with `release`. */
  request(key: string, want: GpuSpec): Grant {
    if (want === 'none' || this.spec === 'none') return { kind: 'granted', gpus: undefined };
    if (this.#ids === undefined) {
      if (this.#wholeHolder !== undefined) return { kind: 'wait' };
      this.#wholeHolder = key;
      return { kind: 'granted', gpus: undefined };
    }
    const ids = this.#wanted(want);
    if (ids.kind !== 'ids') return ids;
    this.#held.set(key, ids.ids);
    return { kind: 'granted', gpus: ids.ids.join(',') };
  }

  #wanted(want: Exclude<GpuSpec, 'none'>): { kind: 'ids'; ids: number[] } | Exclude<Grant, { kind: 'granted' }> {
    const pool = this.#ids ?? [];
    const free = this.free;
    if (want === 'all') return free.length === pool.length ? { kind: 'ids', ids: pool } : { kind: 'wait' };
    if (typeof want === 'number') {
      if (want > pool.length) return { kind: 'never', why: `it asks for ${want} GPUs and the pool (--gpus ${String(this.spec)}) has ${pool.length}` };
      return free.length >= want ? { kind: 'ids', ids: free.slice(0, want) } : { kind: 'wait' };
    }
    const ids = want.split(',').map(Number);
    const outside = ids.filter((i) => !pool.includes(i));
    if (outside.length > 0) return { kind: 'never', why: `it asks for GPU ${outside.join(', ')}, which is not in the pool (--gpus ${String(this.spec)})` };
    return ids.every((i) => free.includes(i)) ? { kind: 'ids', ids } : { kind: 'wait' };
  }

  release(key: string): void {
    this.#held.delete(key);
    if (this.#wholeHolder === key) this.#wholeHolder = undefined;
  }
}

/**
 * torchrun's rendezvous port for an instance given `gpus`: the planned port plus its lowest GPU id.
 * Instances running at once hold disjoint ids, so two trainings on one host never share a port.
 */
export function withOwnMasterPort(env: Record<string, string>, gpus: GpuSpec | undefined): Record<string, string> {
  const port = env['MASTER_PORT'];
  if (port === undefined || typeof gpus !== 'string') return env;
  return { ...env, MASTER_PORT: String(Number(port) + Math.min(...gpus.split(',').map(Number))) };
}
