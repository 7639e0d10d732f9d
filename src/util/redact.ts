import { StringDecoder } from 'node:string_decoder';

/**
 * Secrets never reach anything flux-train writes or prints: events.jsonl, state.json,
 * flux-train.log, the terminal, failure evidence and the attempt logs it copies from a job.
 * A secret is the value of a pass_env variable, HF_TOKEN, WANDB_API_KEY, or any variable whose name
 * says TOKEN, SECRET, KEY or PASSWORD. Values shorter than MIN_SECRET_LENGTH are left alone:
 * `SOME_KEY=1` must not turn every "1" in a log into "***".
 */
export const MASK = '***';
export const MIN_SECRET_LENGTH = 6;
const ALWAYS_SECRET = ['HF_TOKEN', 'WANDB_API_KEY'];
const SECRET_NAME = /TOKEN|SECRET|KEY|PASSWORD/i;

export function isSecretName(name: string): boolean {
  return ALWAYS_SECRET.includes(name) || SECRET_NAME.test(name);
}

/** The secret values in an environment: those of `passEnv` names and of secret-looking names. */
export function secretValues(env: Record<string, string | undefined>, passEnv: readonly string[] = []): string[] {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || v.length < MIN_SECRET_LENGTH) continue;
    if (passEnv.includes(k) || isSecretName(k)) out.add(v);
  }
  return [...out];
}

export class Redactor {
  readonly #values: string[];
  constructor(values: Iterable<string>) {
    // longest first, so a secret that contains another is masked whole
    this.#values = [...new Set(values)].filter((v) => v.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  }

  get longest(): number {
    return this.#values[0]?.length ?? 0;
  }

  redact(text: string): string {
    let out = text;
    for (const v of this.#values) if (out.includes(v)) out = out.split(v).join(MASK);
    return out;
  }

  /** A copy of a JSON-like value with every string (keys included) redacted. */
  redactDeep<T>(value: T): T {
    if (this.#values.length === 0) return value;
    return this.#deep(value) as T;
  }

  #deep(v: unknown): unknown {
    if (typeof v === 'string') return this.redact(v);
    if (Array.isArray(v)) return v.map((x) => this.#deep(x));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) Object.defineProperty(out, this.redact(k), { value: this.#deep(x), enumerable: true, writable: true, configurable: true });
      return out;
    }
    return v;
  }
}

let active: Redactor | undefined;

/** The process-wide redactor: the environment's secrets, plus what `useSecrets` added (a pipeline's pass_env). */
export function redactor(): Redactor {
  active ??= new Redactor(secretValues(process.env));
  return active;
}

export function useSecrets(passEnv: readonly string[], extra: Record<string, string>[] = []): Redactor {
  const values = secretValues(process.env, passEnv);
  for (const env of extra) values.push(...secretValues(env));
  active = new Redactor(values);
  return active;
}

export const redact = (text: string): string => redactor().redact(text);
export const redactDeep = <T>(v: T): T => redactor().redactDeep(v);

/**
 * Redacts a byte stream (a job's log) line by line, so a secret split across two chunks is still
 * caught. A line longer than maxHold is passed on in pieces, keeping back enough bytes to catch a
 * secret that straddles the cut.
 */
export class StreamRedactor {
  #held = '';
  readonly #decoder = new StringDecoder('utf8');
  constructor(
    readonly r: Redactor = redactor(),
    readonly maxHold = 64 * 1024,
  ) {}

  push(chunk: Buffer | string): string {
    this.#held += typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    const nl = this.#held.lastIndexOf('\n');
    let out = '';
    if (nl >= 0) {
      out = this.r.redact(this.#held.slice(0, nl + 1));
      this.#held = this.#held.slice(nl + 1);
    }
    if (this.#held.length > this.maxHold) {
      const keep = Math.max(0, this.r.longest - 1);
      const red = this.r.redact(this.#held);
      out += red.slice(0, red.length - keep);
      this.#held = red.slice(red.length - keep);
    }
    return out;
  }

  end(): string {
    const rest = this.r.redact(this.#held + this.#decoder.end());
    this.#held = '';
    return rest;
  }
}
