import { isAbsolute, join, resolve } from 'node:path';
import { readRegularFile } from './read-file.js';
import { own } from '../util/own.js';
import { projectRoot } from '../util/project-root.js';
import { err, ok, type Result } from '../util/result.js';

/** The shipped DeepSpeed configs (configs/deepspeed/), by the names a pipeline may use. */
export const DEEPSPEED_PRESETS: Record<string, string> = {
  z2: 'ds_z2_config.json',
  z3: 'ds_z3_config.json',
  z3_offload: 'ds_z3_offload_config.json',
};

/** A DeepSpeed config is a small JSON object; the limit keeps /dev/zero or a model file from being read. */
export const MAX_DEEPSPEED_BYTES = 1024 * 1024;

export interface DeepspeedProblem {
  code: 'missing-file' | 'deepspeed-config';
  message: string;
  hint: string;
}

/** The DeepSpeed file a preset name or path stands for, read and checked to be a JSON object. */
export function resolveDeepspeed(value: string, baseDir: string): Result<string, DeepspeedProblem> {
  const preset = own(DEEPSPEED_PRESETS, value);
  const path = preset !== undefined ? join(projectRoot, 'configs', 'deepspeed', preset) : isAbsolute(value) ? value : resolve(baseDir, value);
  const fix = `use a preset (${Object.keys(DEEPSPEED_PRESETS).join(', ')}) or the path of a DeepSpeed JSON file relative to the pipeline file`;
  if (value.trim() === '') return err({ code: 'missing-file', message: 'the DeepSpeed setting is empty', hint: fix });
  const read = readRegularFile(path, MAX_DEEPSPEED_BYTES, 'DeepSpeed config');
  if (!read.ok) {
    return err({ code: read.error.code === 'missing-file' ? 'missing-file' : 'deepspeed-config', message: read.error.code === 'missing-file' ? `DeepSpeed config "${value}" not found (${path})` : read.error.message, hint: fix });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(read.value.toString('utf8'));
  } catch (e) {
    return err({ code: 'deepspeed-config', message: `DeepSpeed config ${path} is not JSON (${e instanceof Error ? e.message : String(e)})`, hint: fix });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return err({ code: 'deepspeed-config', message: `DeepSpeed config ${path} holds ${Array.isArray(parsed) ? 'a list' : parsed === null ? 'null' : `a ${typeof parsed}`}, not a JSON object`, hint: fix });
  }
  return ok(path);
}
