import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { projectRoot } from '../../src/util/project-root.js';
import type { Rig } from './rig.js';

/** The stand-in trainer as a host program in a fake "venv" (bin/llamafactory-cli), for the local backend without Docker. */
export async function standinEnv(rig: Rig): Promise<{ env: string; keys: string }> {
  const env = rig.path('standin-env');
  mkdirSync(join(env, 'bin'), { recursive: true });
  symlinkSync(join(projectRoot, 'docker', 'standin', 'llamafactory-cli'), join(env, 'bin', 'llamafactory-cli'));
  const keys = await execa(process.execPath, [join(projectRoot, 'scripts', 'keys-list.mjs')]);
  writeFileSync(join(env, 'keys.txt'), keys.stdout);
  return { env, keys: join(env, 'keys.txt') };
}
