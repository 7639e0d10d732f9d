import { createConnection } from 'node:net';
import { stageFileName } from '../../src/util/run-layout.js';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { projectRoot } from '../../src/util/project-root.js';
import type { RunState } from '../../src/state/state.js';
import type { RunEvent } from '../../src/run/events.js';

export const BIN = join(projectRoot, 'bin', 'flux-train.js');
export const TEST_IMAGE = process.env['TEST_IMAGE'] ?? 'flux-train/standin:test';

/** A throw-away project folder: pipelines/, .demo/ (tiny model and data), run/. */
export class Rig {
  readonly dir: string;
  constructor(name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `flux-${name}-`));
  }

  get runDir(): string {
    return join(this.dir, 'run');
  }

  path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  write(rel: string, text: string): string {
    const p = join(this.dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
    return p;
  }

  /** The demo pipeline (ReasonFlux shape on the stand-in) with its data, optionally edited. */
  async demo(edit: (yaml: string) => string = (y) => y, records = 32): Promise<string> {
    await execa(process.execPath, [join(projectRoot, 'scripts', 'make-demo-data.mjs'), join(this.dir, '.demo'), '--records', String(records)]);
    const yaml = readFileSync(join(projectRoot, 'pipelines', 'demo-standin.yaml'), 'utf8').replace('flux-train/standin:test', TEST_IMAGE);
    return this.write('pipelines/demo.yaml', edit(yaml));
  }

  /** Runs the CLI in this folder; never throws on a non-zero exit. */
  cli(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000, cwd = this.dir): ResultPromise<{ reject: false; all: true }> {
    return execa(process.execPath, [BIN, ...args], { cwd, env: { FLUX_TRAIN_RENDERER: 'plain', ...env }, reject: false, all: true, timeout: timeoutMs }) as unknown as ResultPromise<{
      reject: false;
      all: true;
    }>;
  }

  /** Fault injection for one stage instance of the stand-in trainer (see docker/standin/llamafactory-cli). */
  control(key: string, spec: string): void {
    this.write(join('run', 'standin-control', stageFileName(key)), `${spec}\n`);
  }

  state(): RunState {
    return JSON.parse(readFileSync(join(this.runDir, 'state.json'), 'utf8')) as RunState;
  }

  /** The run's events of one type. */
  eventsOf<T extends RunEvent['type']>(type: T): Extract<RunEvent, { type: T }>[] {
    return this.events().filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);
  }

  events(): RunEvent[] {
    const p = join(this.runDir, 'events.jsonl');
    if (!existsSync(p)) return [];
    return readFileSync(p, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as RunEvent);
  }

  read(rel: string): string {
    return readFileSync(join(this.dir, rel), 'utf8');
  }

  copyFrom(src: string, rel: string): void {
    cpSync(src, join(this.dir, rel), { recursive: true });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let dockerOk: boolean | undefined;
/** Whether a Docker Engine answers and the test image exists. In CI a missing engine is a failure, not a skip. */
export async function dockerReady(): Promise<string | false> {
  if (dockerOk === undefined) {
    const r = await execa('docker', ['image', 'inspect', TEST_IMAGE], { reject: false });
    dockerOk = r.exitCode === 0;
    if (!dockerOk && process.env['CI'] === 'true') throw new Error(`CI needs Docker and ${TEST_IMAGE}: ${r.stderr}`);
  }
  return dockerOk ? false : `Docker Engine or ${TEST_IMAGE} not available (run bash .ci/infra.sh docker && bash scripts/build-test-image.sh)`;
}

export async function containersOf(runDir: string): Promise<{ id: string; state: string; stage: string }[]> {
  const r = await execa('docker', ['ps', '-a', '--filter', `label=flux-train.run-dir=${runDir}`, '--format', '{{.ID}} {{.State}} {{.Label "flux-train.stage"}}'], { reject: false });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, state, stage] = l.split(' ');
      return { id: id ?? '', state: state ?? '', stage: stage ?? '' };
    });
}

export async function removeContainers(runDir: string): Promise<void> {
  for (const c of await containersOf(runDir)) await execa('docker', ['rm', '-f', c.id], { reject: false });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Whether something accepts connections on a port of this host (a server left listening). */
export function listening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host, port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
