import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';

/** Reads what a file gained since the last call (a log the job writes itself), in chunks. */
export class FileTail {
  constructor(
    readonly path: string,
    private offset = 0,
  ) {}

  /** start near the end: re-attaching needs the recent lines for failure signatures, not the whole log */
  static fromEnd(path: string, keepBytes: number): FileTail {
    let size = 0;
    if (existsSync(path)) {
      const fd = openSync(path, 'r');
      try {
        size = fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
    }
    return new FileTail(path, Math.max(0, size - keepBytes));
  }

  drain(onChunk: (chunk: Buffer) => void): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.alloc(256 * 1024);
      while (this.offset < size) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        onChunk(buf.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** The last lines of a log file (at most maxBytes read), oldest first, for failure signatures. */
export function readTailLines(path: string, maxLines = 200, maxBytes = 64 * 1024): string[] {
  if (!existsSync(path)) return [];
  const tail = FileTail.fromEnd(path, maxBytes);
  const chunks: Buffer[] = [];
  tail.drain((c) => chunks.push(Buffer.from(c)));
  const lines = Buffer.concat(chunks).toString('utf8').split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-maxLines);
}
