/**
 * Fault injection for the crash-safety tests: FLUX_TRAIN_CRASH_AT=name#k (comma-separated) makes the
 * CLI SIGKILL itself the k-th time it reaches the named point, exactly like a power cut would.
 * Unset (always, outside tests) it costs one lookup.
 */
const spec = process.env['FLUX_TRAIN_CRASH_AT'];
const targets = new Map<string, number>();
if (spec) {
  for (const part of spec.split(',')) {
    const [name, k] = part.split('#');
    if (name) targets.set(name, Number(k ?? 1));
  }
}
const seen = new Map<string, number>();

export function crashPoint(name: string): void {
  if (targets.size === 0) return;
  const want = targets.get(name);
  if (want === undefined) return;
  const n = (seen.get(name) ?? 0) + 1;
  seen.set(name, n);
  if (n === want) process.kill(process.pid, 'SIGKILL');
}
