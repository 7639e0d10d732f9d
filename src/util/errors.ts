/** Exit codes, documented in the README. */
export const EXIT = {
  ok: 0,
  stageFailed: 1,
  badInput: 2,
  locked: 3,
  environment: 4,
  /** a bug: never for any input */
  internal: 70,
  interrupted: 130,
} as const;

/** What kind of problem an error is; each kind has its exit code. */
export type ErrorKind = 'bad-input' | 'locked' | 'environment';

export const EXIT_OF_KIND: Record<ErrorKind, number> = {
  'bad-input': EXIT.badInput,
  locked: EXIT.locked,
  environment: EXIT.environment,
};

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
    readonly kind: ErrorKind = 'bad-input',
    options?: { cause?: unknown; evidence?: string[] },
  ) {
    super(formatLong(shortMessage, fix, options?.evidence), options?.cause === undefined ? undefined : { cause: options.cause });
    this.evidence = options?.evidence ?? [];
    this.exitCode = EXIT_OF_KIND[kind];
  }
  readonly evidence: string[];
  readonly exitCode: number;
}

function formatLong(short: string, fix: string, evidence?: string[]): string {
  const ev = evidence && evidence.length > 0 ? `\n${evidence.map((l) => `    | ${l}`).join('\n')}` : '';
  return `${short}${ev}\n  fix: ${fix}`;
}

export function isFluxError(e: unknown): e is FluxError {
  return e instanceof Error && e.name === 'FluxError' && 'reason' in e;
}
