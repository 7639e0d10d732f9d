import { createWriteStream, existsSync, statSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PassThrough } from 'node:stream';
import { stageFileName } from '../util/run-layout.js';
import Docker from 'dockerode';
import type { Backend, FollowOptions, JobExit, JobPlace, JobSpec, LiveJob, StartFailure } from './backend.js';
import type { JobStage, Plan, PlanStage } from '../pipeline/plan-types.js';
import type { DockerSettings } from '../pipeline/schema.js';
import type { JobHandleRecord } from '../run/events.js';
import { checkInputsAndDisk } from './common.js';
import { abortPromise, apiMessage, deviceRequests, engineAddress, LABEL, parseSize, startFailure, type DockerApiError } from './docker-engine.js';
import { StreamRedactor } from '../util/redact.js';
import { containerUserEnv, handOverOutputDir, parseContainerUser, prepareForContainerUser, type ContainerUser } from './docker-user.js';
import { FluxError } from '../util/errors.js';
import { err, ok, type Result } from '../util/result.js';

export interface DockerBackendOptions {
  settings: DockerSettings;
  /** "UID:GID" the trainer runs as, so outputs are not owned by root */
  user?: string;
  /** warnings go here (printed once by the caller) */
  warn: (message: string) => void;
  /** skip the free-disk check (for runs where the estimate is known to be wrong) */
  skipDiskCheck?: boolean;
}

export class DockerBackend implements Backend {
  readonly name = 'docker' as const;
  readonly docker: Docker;
  readonly user: ContainerUser;
  #memlockRefused = false;
  #listing: { runId: string; at: number; list: Promise<Docker.ContainerInfo[]> } | undefined;

  constructor(
    readonly plan: Plan,
    readonly opts: DockerBackendOptions,
  ) {
    this.docker = new Docker();
    this.user = parseContainerUser(opts.user);
  }

  async connect(): Promise<Result<void, FluxError>> {
    try {
      await this.docker.ping();
      return ok(undefined);
    } catch (e) {
      return err(
        new FluxError(
          'docker-down',
          `the Docker Engine does not answer at ${engineAddress()} (${apiMessage(e)})`,
          process.env['DOCKER_HOST']
            ? 'check DOCKER_HOST, or unset it to use /var/run/docker.sock; start the engine (systemctl start docker, or dockerd &)'
            : 'start the engine (systemctl start docker, or `dockerd &` where there is no systemd), check that you may use /var/run/docker.sock (the docker group), or use --backend local',
          'environment',
          { cause: e },
        ),
      );
    }
  }

  async preflight(plan: Plan, toRun: PlanStage[]): Promise<Result<string[], FluxError>> {
    const warnings: string[] = [];
    const up = await this.connect();
    if (!up.ok) return up;
    for (const image of new Set(toRun.map((s) => s.image))) {
      const present = await this.#imagePresent(image);
      if (!present) {
        const pulled = await this.#pull(image);
        if (!pulled.ok) return pulled;
      }
    }
    // before any GPU is claimed: a trainer that cannot write its output dir fails at its first save, hours in
    const access = prepareForContainerUser(plan, toRun, this.user);
    if (!access.ok) return access;
    warnings.push(...access.value);
    const gpuStage = toRun.find((s) => s.gpus !== 'none');
    if (gpuStage) {
      const probe = await this.#probeGpu(gpuStage);
      if (!probe.ok) return probe;
      warnings.push(...probe.value);
    }
    const inputs = checkInputsAndDisk(plan, toRun, this.opts.skipDiskCheck ?? false);
    if (!inputs.ok) return inputs;
    return ok(warnings);
  }

  async #imagePresent(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (e) {
      if ((e as DockerApiError).statusCode === 404) return false;
      throw e;
    }
  }

  async #pull(image: string): Promise<Result<string[], FluxError>> {
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(
          stream,
          (e: Error | null) => (e ? reject(e) : resolve()),
          (ev: { status?: string; id?: string; progress?: string }) => {
            if (ev.status && /Pulling from|Download complete|Pull complete|Digest|Status/.test(ev.status)) {
              this.opts.warn(`pull ${image}: ${ev.id ? `${ev.id} ` : ''}${ev.status}`);
            }
          },
        );
      });
      return ok([]);
    } catch (e) {
      return err(
        new FluxError(
          'image-missing',
          `image ${image} is not on this host and pulling it failed: ${apiMessage(e)}`,
          `check the tag and your network or registry login (docker login), pull or \`docker load\` it by hand, or pass --image REF with a local image`,
          'environment',
          { cause: e },
        ),
      );
    }
  }

  /** Docker only says "could not select device driver" when a container with GPU requests starts. */
  async #probeGpu(stage: PlanStage): Promise<Result<string[], FluxError>> {
    let c: Docker.Container | undefined;
    try {
      c = await this.docker.createContainer({
        Image: stage.image,
        Entrypoint: ['true'],
        Cmd: [],
        Labels: { [LABEL.app]: 'flux-train', 'flux-train.probe': 'gpu' },
        HostConfig: { DeviceRequests: deviceRequests(stage.gpus), NetworkMode: 'none' },
      });
      await c.start();
      await c.wait();
      return ok([]);
    } catch (e) {
      const msg = apiMessage(e);
      if (/could not select device driver/.test(msg)) {
        return err(
          new FluxError(
            'no-gpu-runtime',
            `Docker cannot give containers GPUs here: "${msg}" (stage ${stage.key} asks for --gpus ${String(stage.gpus)})`,
            'install the NVIDIA Container Toolkit and run `nvidia-ctk runtime configure --runtime=docker`, then restart Docker; or pass --gpus none to run without GPUs (CPU images, tests)',
            'environment',
            { cause: e },
          ),
        );
      }
      // other probe failures (an image without `true`) prove nothing about GPUs; the real start will tell
      return ok([`GPU probe inconclusive: ${msg}`]);
    } finally {
      if (c) await c.remove({ force: true }).catch(() => undefined);
    }
  }

  containerName(job: JobSpec): string {
    return `flux-${job.runId.slice(0, 8)}-${stageFileName(job.stage.key)}-a${job.attempt}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
  }

  async start(job: JobSpec): Promise<Result<JobHandleRecord, StartFailure>> {
    const s = job.stage;
    const st = this.opts.settings;
    const env = [...containerUserEnv(this.user, { ...s.env, ...Object.fromEntries(s.passEnv.map((n) => [n, ''])) }), ...Object.entries(s.env).map(([k, v]) => `${k}=${v}`)];
    // secrets are passed by name: the value goes to the engine, never to our files
    for (const name of s.passEnv) {
      const v = process.env[name];
      if (v !== undefined) env.push(`${name}=${v}`);
    }
    const ulimits: Docker.HostConfig['Ulimits'] = [{ Name: 'stack', Soft: st.stack, Hard: st.stack }];
    if (!this.#memlockRefused) ulimits.push({ Name: 'memlock', Soft: st.memlock, Hard: st.memlock });
    const hostConfig: Docker.HostConfig = {
      Binds: this.plan.mounts.map((m) => `${m.host}:${m.container}:${m.mode}`),
      Ulimits: ulimits,
      NetworkMode: st.network,
      DeviceRequests: deviceRequests(job.gpus ?? s.gpus),
      Init: true,
      ...(st.ipc === 'host' ? { IpcMode: 'host' } : { IpcMode: st.ipc, ShmSize: parseSize(st.shm_size) }),
      ...(st.memory ? { Memory: parseSize(st.memory), MemorySwap: parseSize(st.memory) } : {}),
    };
    for (const m of this.plan.mounts) if (m.mode === 'rw') mkdirSync(m.host, { recursive: true });
    const handOver = handOverOutputDir(s, this.user);
    if (handOver) return err({ message: handOver });
    const labels = {
      [LABEL.app]: 'flux-train',
      [LABEL.run]: job.runId,
      [LABEL.runDir]: job.runDir,
      [LABEL.stage]: s.key,
      [LABEL.stageId]: s.id,
      [LABEL.round]: String(s.round),
      [LABEL.attempt]: String(job.attempt),
      [LABEL.fingerprint]: job.fingerprint,
    };
    const create = async (hc: Docker.HostConfig) =>
      this.docker.createContainer({
        name: this.containerName(job),
        Image: s.image,
        Cmd: s.command,
        Entrypoint: [],
        WorkingDir: s.workdir,
        Env: env,
        Labels: labels,
        ...(this.opts.user ? { User: this.opts.user } : {}),
        HostConfig: hc,
      });
    let c: Docker.Container;
    try {
      c = await create(hostConfig);
    } catch (e) {
      return err(startFailure(apiMessage(e)));
    }
    try {
      await c.start();
    } catch (e) {
      const msg = apiMessage(e);
      await c.remove({ force: true }).catch(() => undefined);
      if (/error setting rlimit type 8|rlimit.*memlock/i.test(msg) && !this.#memlockRefused) {
        this.#memlockRefused = true;
        this.opts.warn(`this host refuses ulimit memlock=${st.memlock} (it lacks CAP_SYS_RESOURCE); running containers without the memlock limit. NCCL may be slower.`);
        return this.start(job);
      }
      return err(startFailure(msg));
    }
    const info = await c.inspect();
    return ok({ backend: 'docker', id: info.Id, name: info.Name.replace(/^\//, '') });
  }

  async findJob(runId: string, stage: JobStage): Promise<LiveJob | undefined> {
    // one engine call per run, not per stage instance (a plan of 100 rounds has hundreds)
    if (this.#listing?.runId !== runId || Date.now() - this.#listing.at > 2_000) {
      this.#listing = { runId, at: Date.now(), list: this.docker.listContainers({ all: true, filters: { label: [`${LABEL.run}=${runId}`] } }) };
    }
    let list = (await this.#listing.list).filter((c) => c.Labels[LABEL.stage] === stage.key);
    // a container that was created but never started (the CLI died in between) never ran: drop it
    for (const c of list.filter((x) => x.State === 'created')) await this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    if (list.some((x) => x.State === 'created')) this.#listing = undefined;
    list = list.filter((x) => x.State !== 'created');
    if (list.length === 0) return undefined;
    const newest = list.sort((a, b) => Number(b.Labels[LABEL.attempt] ?? 0) - Number(a.Labels[LABEL.attempt] ?? 0))[0] as Docker.ContainerInfo;
    const fp = newest.Labels[LABEL.fingerprint];
    const name = (newest.Names[0] ?? '').replace(/^\//, '');
    return {
      handle: { backend: 'docker', id: newest.Id, name },
      stopCommand: `docker stop ${name || newest.Id}`,
      running: newest.State === 'running' || newest.State === 'restarting' || newest.State === 'paused',
      attempt: Number(newest.Labels[LABEL.attempt] ?? 1),
      ...(fp ? { fingerprint: fp } : {}),
    };
  }

  async follow(handle: JobHandleRecord, job: JobSpec, opts: FollowOptions): Promise<JobExit> {
    const c = this.docker.getContainer(handle.id);
    mkdirSync(dirname(job.logPath), { recursive: true });
    let since: string | undefined;
    if (opts.resume && existsSync(job.logPath)) since = (statSync(job.logPath).mtimeMs / 1000).toFixed(6);
    const file = createWriteStream(job.logPath, { flags: 'a' });
    const out = new PassThrough();
    const errS = new PassThrough();
    const stream = (await c.logs({ follow: true, stdout: true, stderr: true, ...(since ? { since: since as unknown as number } : {}) })) as unknown as NodeJS.ReadableStream & { destroy?: () => void };
    // a trainer can print hundreds of MB: when the file falls behind, stop reading from the engine
    // instead of buffering in memory (the engine keeps the log; nothing is lost)
    // the job's output may print a token: secrets are masked before the copy reaches the disk
    const redactor = new StreamRedactor();
    const write = (d: Buffer) => {
      const text = redactor.push(d);
      if (text !== '' && !file.write(text)) {
        stream.pause();
        file.once('drain', () => stream.resume());
      }
    };
    out.on('data', write);
    errS.on('data', write);
    this.docker.modem.demuxStream(stream, out, errS);
    const ended = new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
    const onAbort = () => stream.destroy?.();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const waited = c.wait().then(() => undefined);
      await Promise.race([Promise.all([waited, ended]), abortPromise(opts.signal)]);
      if (opts.signal?.aborted) return { kind: 'detached' };
      const info = await c.inspect();
      return { kind: 'exited', exitCode: info.State.ExitCode, oomKilled: info.State.OOMKilled };
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      const rest = redactor.end();
      await new Promise<void>((r) => (rest !== '' ? file.end(rest, r) : file.end(r)));
    }
  }

  async stop(handle: JobHandleRecord, graceSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(handle.id).stop({ t: graceSeconds });
    } catch (e) {
      const code = (e as DockerApiError).statusCode;
      if (code !== 304 && code !== 404) throw e;
    }
  }

  /** jobs run on this host, on its network (docker: network host, which serve stages require) */
  async placeOf(): Promise<JobPlace> {
    return { kind: 'at', address: '127.0.0.1' };
  }

  async release(handle: JobHandleRecord): Promise<void> {
    await this.docker
      .getContainer(handle.id)
      .remove({ force: false })
      .catch(() => undefined);
  }
}
