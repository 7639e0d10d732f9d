import { closeSync, existsSync, fstatSync, openSync, readSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Plan, PlanStage } from '../pipeline/plan-types.js';
import { estimateDiskNeed, formatBytes } from '../run/disk.js';
import { FluxError } from '../util/errors.js';
import { err, ok, type Result } from '../util/result.js';

/** The checks every backend makes before claiming a GPU: the input files exist and the disk has room. */
export function checkInputsAndDisk(plan: Plan, toRun: PlanStage[], skipDiskCheck: boolean): Result<void, FluxError> {
  for (const s of toRun) {
    if (s.kind !== 'train') continue;
    for (const d of s.datasets) {
      if (!d.producedBy && !existsSync(d.hostPath)) {
        return err(new FluxError('missing-dataset', `dataset ${d.declared} (${d.hostPath}) for ${s.key} does not exist`, 'download it (scripts/fetch-datasets.sh) or fix its path in the pipeline', 'bad-input'));
      }
    }
  }
  const need = estimateDiskNeed(plan, toRun);
  // the nearest existing folder: a check must not create the run dir of a run that may never start
  let probe = plan.runDir;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  const fs = statfsSync(probe);
  const free = fs.bavail * fs.bsize;
  if (!skipDiskCheck && need.bytes > free) {
    return err(
      new FluxError(
        'disk-space',
        `not enough free disk at ${plan.runDir}: ${formatBytes(free)} free, the stages to run need about ${formatBytes(need.bytes)} (${need.explain})`,
        'free space, lower save_total_limit, move --run-dir to a larger disk, or pass --skip-disk-check if the estimate is wrong',
        'bad-input',
      ),
    );
  }
  return ok(undefined);
}

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
