import { existsSync, statfsSync } from 'node:fs';
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

