import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** One line of LLaMA-Factory's trainer_log.jsonl (LogCallback.on_log); absent fields were null. */
export interface TrainerLogRecord {
  current_steps: number;
  total_steps: number;
  loss?: number;
  lr?: number;
  epoch?: number;
  percentage?: number;
  elapsed_time?: string;
  remaining_time?: string;
  accuracy?: number;
  reward?: number;
  throughput?: number;
  total_tokens?: number;
}

export function parseTrainerLogLine(line: string): TrainerLogRecord | undefined {
  const t = line.trim();
  if (t === '') return undefined;
  try {
    const v = JSON.parse(t) as Record<string, unknown>;
    if (typeof v['current_steps'] !== 'number' || typeof v['total_steps'] !== 'number') return undefined;
    return v as unknown as TrainerLogRecord;
  } catch {
    return undefined;
  }
}

/**
 * Follows trainer_log.jsonl as it grows: reads only new bytes, keeps a partial last line until it is
 * completed, and starts over if the file is replaced or truncated.
 */
export class TrainerLogTail {
  #offset = 0;
  #partial = '';
  #ino = -1;

  constructor(readonly path: string) {}

  /** New complete records since the last call (none if the file does not exist yet). */
  poll(): TrainerLogRecord[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return [];
    }
    try {
      const st = fstatSync(fd);
      if (st.ino !== this.#ino || st.size < this.#offset) {
        this.#ino = st.ino;
        this.#offset = 0;
        this.#partial = '';
      }
      const out: TrainerLogRecord[] = [];
      const buf = Buffer.alloc(256 * 1024);
      while (this.#offset < st.size) {
        const n = readSync(fd, buf, 0, buf.length, this.#offset);
        if (n <= 0) break;
        this.#offset += n;
        const text = this.#partial + buf.subarray(0, n).toString('utf8');
        const lines = text.split('\n');
        this.#partial = lines.pop() ?? '';
        for (const l of lines) {
          const r = parseTrainerLogLine(l);
          if (r) out.push(r);
        }
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }
}
