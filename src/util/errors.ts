/**
 * A user-facing error: what went wrong (short), the evidence and the fix (long), and a
 * machine-readable reason. Mirrors execa's shortMessage/message split.
 */
export class FluxError extends Error {
  override readonly name = 'FluxError';
  constructor(
    readonly reason: string,
    readonly shortMessage: string,
    readonly fix: string,
    readonly exitCode: number = 2,
    options?: { cause?: unknown; evidence?: string[] },
  ) {
    super(formatLong(shortMessage, fix, options?.evidence), options?.cause === undefined ? undefined : { cause: options.cause });
    this.evidence = options?.evidence ?? [];
  }
  readonly evidence: string[];
}

function formatLong(short: string, fix: string, evidence?: string[]): string {
  const ev = evidence && evidence.length > 0 ? `\n${evidence.map((l) => `    | ${l}`).join('\n')}` : '';
  return `${short}${ev}\n  fix: ${fix}`;
}

export function isFluxError(e: unknown): e is FluxError {
  return e instanceof Error && e.name === 'FluxError' && 'reason' in e;
}
