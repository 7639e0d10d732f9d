/**
 * Lookups of user-written names. A plain `rec[name]` or `name in rec` also finds what every object
 * inherits (`constructor`, `toString`, `__proto__`), so a model called `toString` would resolve to a
 * function; these only see the record's own entries.
 */
export function own<T>(rec: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return rec !== undefined && Object.hasOwn(rec, key) ? rec[key] : undefined;
}

export function hasOwn(rec: object | undefined, key: string): boolean {
  return rec !== undefined && Object.hasOwn(rec, key);
}

/** Names refused as keys and as ids anywhere in a pipeline: they reach or shadow Object.prototype. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
