import { existsSync, readdirSync, renameSync } from 'node:fs';
import { listCheckpoints } from '../llamafactory/outputs.js';
import type { PlanStage } from '../pipeline/plan-types.js';
import { assertInsideRunDir, ensureDir } from '../state/run-dir.js';
import type { RunDir } from '../util/run-layout.js';
import { now, type RunEvent } from './events.js';

/** Old outputs are never deleted: before a (re)run they go to trash/ with a timestamp. */
export function moveAside(layout: RunDir, s: PlanStage, emit: (e: RunEvent) => void, reason: string): void {
  assertInsideRunDir(layout.root, s.outputDir, `the output dir of ${s.key}`);
  if (!existsSync(s.outputDir) || readdirSync(s.outputDir).length === 0) return;
  const to = layout.trashFor(s.key);
  assertInsideRunDir(layout.root, to, 'the trash folder');
  ensureDir(layout.trashDir, 'trash folder');
  renameSync(s.outputDir, to);
  emit({ type: 'stage-moved-aside', ts: now(), key: s.key, from: s.outputDir, to, reason });
}

/** Checkpoints newer than the newest valid one (a crash mid-save) would be picked by LLaMA-Factory: move them to quarantine/. */
export function quarantineBroken(layout: RunDir, s: PlanStage, emit: (e: RunEvent) => void): void {
  if (s.kind !== 'train') return;
  const cps = listCheckpoints(s.outputDir);
  const valid = cps.find((c) => c.valid);
  for (const c of cps) {
    if (c.valid || (valid && c.step < valid.step)) continue;
    const to = layout.quarantinedCheckpoint(s.key, c.step);
    assertInsideRunDir(layout.root, c.path, 'the checkpoint');
    assertInsideRunDir(layout.root, to, 'the quarantine folder');
    ensureDir(layout.quarantineDir(s.key), 'quarantine folder');
    renameSync(c.path, to);
    emit({ type: 'checkpoint-quarantined', ts: now(), key: s.key, path: c.path, to, why: c.problem ?? 'invalid' });
  }
}
