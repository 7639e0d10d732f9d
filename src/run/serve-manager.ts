import type { JobExit } from '../backends/backend.js';
import type { CommandInstance, ServeInstance } from '../pipeline/plan-types.js';
import type { GpuSpec } from '../pipeline/schema.js';
import { fingerprintServe, type Fingerprint } from '../state/fingerprint.js';
import type { RunState } from '../state/state.js';
import { lastAttemptNumber } from '../state/store.js';
import { sleep } from '../util/sleep.js';
import { causeInfo, type Cause } from './causes.js';
import { now } from './events.js';
import type { GpuPool } from './gpu-pool.js';
import { findRunning, serverLogTail, startServer, stopLeftover, stopServer, type UpContext, type UpFailure, type UpServer } from './serve-up.js';
import { err, ok, type Result } from '../util/result.js';

export interface ServeManagerOptions extends UpContext {
  initial: RunState;
  fingerprints: Map<string, Fingerprint>;
  pool: GpuPool;
  /** a second Ctrl-C: stop servers at once */
  kill?: AbortSignal;
  detach: boolean;
  /** the consumers that start or follow a job in this invocation: a server stops once none of them is left */
  willRun: ReadonlySet<string>;
}

/** What a consumer gets: the variables naming its servers, or why it cannot run. */
export type Acquired = { kind: 'ok'; env: Record<string, string> } | { kind: 'failed'; cause: Cause } | { kind: 'interrupted' };

/**
 * The servers of one invocation. A server starts when its first consumer is about to start, is
 * shared by its consumers, and stops once the last consumer of this invocation is done with it, or
 * when the run ends (failure, Ctrl-C). With --detach an interrupted run leaves them to the consumers
 * it leaves running; the next flux-train finds them again (serve-up's findRunning).
 */
export class ServeManager {
  readonly #o: ServeManagerOptions;
  readonly #byKey: Map<string, ServeInstance>;
  readonly #up = new Map<string, Promise<Result<UpServer, UpFailure>>>();
  /** per server, the consumers that may still use it in this invocation */
  readonly #waiting = new Map<string, Set<string>>();
  /** consumers whose server ended under them, with the evidence */
  readonly #died = new Map<string, Cause>();
  readonly #attempts = new Map<string, number>();
  /** every port a server of this invocation was given: a server binds its port only after loading its model, so the kernel alone cannot keep two apart */
  readonly #ports = new Set<number>();
  /** consumers between acquire (or adopt) and done: a server none of them uses is idle */
  readonly #active = new Set<string>();
  /** each server that is (or was) up, once its bring-up ended */
  readonly #settled = new Map<string, UpServer>();
  /** consumers an interrupted --detach run leaves running: their servers stay up for them */
  readonly #leftRunning = new Set<string>();
  /** servers an earlier flux-train left running that sweep kept for a consumer of this invocation */
  readonly #kept = new Set<string>();

  constructor(o: ServeManagerOptions) {
    this.#o = o;
    this.#byKey = new Map(o.plan.serves.map((s) => [s.key, s]));
    for (const s of o.plan.serves) this.#waiting.set(s.key, new Set(s.consumers.filter((k) => o.willRun.has(k))));
    // a second Ctrl-C: a server still in its graceful stop (an in-flight generation holds SIGTERM) is killed now
    o.kill?.addEventListener('abort', () => void this.#killAll(), { once: true });
  }

  async #killAll(): Promise<void> {
    if (this.#o.detach) return;
    for (const key of this.#up.keys()) {
      const up = await this.#current(key);
      if (up !== undefined && !up.ended) await this.#o.backend.stop(up.handle, 0);
    }
  }

  /** Brings up every server `consumer` names and returns FLUX_ENDPOINT_<NAME> for each. */
  async acquire(consumer: CommandInstance): Promise<Acquired> {
    this.#died.delete(consumer.key);
    this.#active.add(consumer.key);
    // brought up side by side: two 32B servers loading one after the other would double the wait
    const ups = await Promise.all(consumer.endpoints.map((e) => this.#ensure(this.#byKey.get(e.serve) as ServeInstance)));
    const env: Record<string, string> = {};
    for (const [i, e] of consumer.endpoints.entries()) {
      const r = ups[i] as Result<UpServer, UpFailure>;
      if (!r.ok) {
        if (r.error.kind === 'interrupted') return { kind: 'interrupted' };
        const evidence = [r.error.message, ...r.error.evidence];
        return { kind: 'failed', cause: { code: 'serve-not-ready', ...causeInfo('serve-not-ready'), evidence } };
      }
      this.#watchDeath(r.value);
      env[`FLUX_ENDPOINT_${e.name.toUpperCase()}`] = r.value.url;
    }
    return { kind: 'ok', env };
  }

  /**
   * A consumer re-attached after a crash already holds its servers' URLs: the servers it was started
   * with are found again and watched, never started anew (a new one would answer on another port).
   */
  async adopt(consumer: CommandInstance): Promise<void> {
    this.#active.add(consumer.key);
    for (const e of consumer.endpoints) {
      const s = this.#byKey.get(e.serve) as ServeInstance;
      if (this.#up.has(s.key)) continue;
      const up = await this.#reuse(s, fingerprintServe(s, this.#o.fingerprints), true);
      if (up === undefined) {
        // gone while no flux-train watched: the consumer's failure is the server's, and its retry brings one up
        const message = `${s.key} was not running when ${consumer.key} was re-attached`;
        this.#died.set(consumer.key, { code: 'serve-died', ...causeInfo('serve-died'), evidence: [message, ...serverLogTail(this.#o.plan.runDir, s.key, this.#attempts.get(s.key) ?? 1)] });
        continue;
      }
      this.#up.set(s.key, Promise.resolve(ok(up)));
      this.#settled.set(s.key, up);
      this.#watchDeath(up);
    }
  }

  /**
   * Why the consumer's attempt failed, when a server it used ended under it. A consumer may notice a
   * dead server (connection refused) sooner than the server's watcher does, so each is asked directly.
   */
  async diedUnder(consumer: CommandInstance): Promise<Cause | undefined> {
    for (const e of consumer.endpoints) {
      const up = await this.#current(e.serve);
      if (up === undefined || up.stopping || this.#died.has(consumer.key)) continue;
      const live = up.ended ? undefined : await this.#o.backend.findJob(this.#o.runId, up.serve);
      if (up.ended || live?.running !== true) {
        // its follower reads the exit code within a poll or two: worth the wait for the evidence
        const gone: JobExit = { kind: 'lost', why: 'its process is gone' };
        this.#recordDeath(up, await Promise.race([up.exited, sleep(3000).then(() => gone)]));
      }
    }
    return this.#died.get(consumer.key);
  }

  /** The consumer will not use its servers again in this invocation (finished, failed, blocked, stopped). */
  async done(consumer: string, leftRunning = false): Promise<void> {
    // --detach after Ctrl-C: its job goes on without flux-train and still needs its servers
    if (leftRunning) return void this.#leftRunning.add(consumer);
    this.#active.delete(consumer);
    for (const [key, waiting] of this.#waiting) {
      if (!waiting.delete(consumer) || waiting.size > 0) continue;
      const up = await this.#current(key);
      if (up !== undefined && !up.ended) await stopServer(this.#o, up, 'its consumers are done', this.#o.graceSeconds);
    }
  }

  /**
   * The start of the invocation: a server an earlier flux-train left running that no consumer of this
   * invocation needs, or of another configuration, is stopped now, before its GPUs are handed to a
   * training the pool thinks they are free for.
   */
  async sweep(): Promise<void> {
    for (const s of this.#o.plan.serves) {
      const live = await this.#o.backend.findJob(this.#o.runId, s);
      if (!live?.running) continue;
      const needed = (this.#waiting.get(s.key)?.size ?? 0) > 0;
      const same = live.fingerprint === fingerprintServe(s, this.#o.fingerprints).hash && this.#o.initial.serves?.[s.key]?.attempt === live.attempt;
      if ((needed && same) || (await this.#usedByLiveJob(s))) {
        this.#kept.add(s.key);
        continue;
      }
      await stopLeftover(this.#o, s.key, live, needed ? 'an earlier flux-train left it running for another configuration' : 'an earlier flux-train left it running and no stage needs it now', this.#o.graceSeconds);
    }
  }

  /**
   * The end of the invocation: every server still up is stopped, and so is one an earlier flux-train
   * left running that nothing needs now. With --detach after Ctrl-C the servers of the consumers left
   * running stay up for them (and one an earlier flux-train left is not touched).
   */
  async close(): Promise<void> {
    const keep = this.#o.detach && this.#o.interrupt.aborted;
    const grace = this.#o.kill?.aborted ? 0 : this.#o.graceSeconds;
    for (const s of this.#o.plan.serves) {
      if (keep && s.consumers.some((c) => this.#leftRunning.has(c))) continue;
      const up = await this.#current(s.key);
      if (up !== undefined && !up.ended) {
        await stopServer(this.#o, up, this.#o.interrupt.aborted ? 'the run was interrupted' : 'the run ended', grace);
        continue;
      }
      // only a leftover sweep kept can still run unused: everything else this invocation started is in #up
      if (up !== undefined || keep || !this.#kept.has(s.key)) continue;
      const live = await this.#o.backend.findJob(this.#o.runId, s);
      if (!live?.running || (await this.#usedByLiveJob(s))) continue;
      await stopLeftover(this.#o, s.key, live, 'an earlier flux-train left it running and no stage needs it now', grace);
    }
  }

  /** Whether a consumer's job an earlier flux-train started still runs (this run blocked it as of another configuration): its server stays for it. */
  async #usedByLiveJob(s: ServeInstance): Promise<boolean> {
    for (const c of this.#o.plan.stages.filter((x) => s.consumers.includes(x.key))) if ((await this.#o.backend.findJob(this.#o.runId, c))?.running === true) return true;
    return false;
  }

  async #current(key: string): Promise<UpServer | undefined> {
    const p = this.#up.get(key);
    if (p === undefined) return undefined;
    const r = await p;
    return r.ok ? r.value : undefined;
  }

  /** One bring-up per server at a time; a server that died is brought up again, one that never got ready is not retried in this invocation. */
  async #ensure(s: ServeInstance): Promise<Result<UpServer, UpFailure>> {
    const existing = this.#up.get(s.key);
    if (existing !== undefined) {
      const r = await existing;
      if (r.ok && !r.value.ended) {
        // adopted for a re-attached consumer, but its model was trained again since: a new consumer gets a new server
        if (r.value.stale === true) await stopServer(this.#o, r.value, 'its model was trained again since it started', this.#o.graceSeconds);
        // stopping to give its GPUs to another server: this consumer brings it up again
        else if (r.value.stopping) await r.value.stopped;
      }
      if (!r.ok || (!r.value.ended && !r.value.stopping)) return r;
      if (this.#up.get(s.key) !== existing) return this.#ensure(s);
    }
    const p = this.#bringUp(s).then((r) => {
      if (r.ok) this.#settled.set(s.key, r.value);
      return r;
    });
    this.#up.set(s.key, p);
    return p;
  }

  async #bringUp(s: ServeInstance): Promise<Result<UpServer, UpFailure>> {
    const o = this.#o;
    const fp = fingerprintServe(s, o.fingerprints);
    if (!this.#attempts.has(s.key)) {
      const found = await this.#reuse(s, fp, false);
      if (found !== undefined) return ok(found);
    }
    const gpus = await this.#gpus(s);
    if (!gpus.ok) return gpus;
    const attempt = Math.max(this.#attempts.get(s.key) ?? 0, lastAttemptNumber(o.initial, o.plan.runDir, s.key), o.initial.serves?.[s.key]?.attempt ?? 0) + 1;
    this.#attempts.set(s.key, attempt);
    const r = await startServer(o, s, fp, attempt, gpus.value, this.#ports);
    if (!r.ok) o.pool.release(s.key);
    else void r.value.exited.then(() => o.pool.release(s.key));
    return r;
  }

  /**
   * A server an earlier flux-train left running, when it is this one and answers (else it is stopped).
   * One whose model is trained again (in this invocation, or since it started) serves the old weights
   * from memory, whatever the fingerprint says: only a re-attached consumer, started with it, keeps it.
   */
  async #reuse(s: ServeInstance, fp: Fingerprint, adopting: boolean): Promise<UpServer | undefined> {
    const o = this.#o;
    const known = o.initial.serves?.[s.key];
    const stale = s.dependsOn.some((d) => o.willRun.has(d) || (known !== undefined && (o.initial.stages[d]?.done?.finishedAt ?? '') > known.startedAt));
    const found = await findRunning(o, s, fp, known, stale && !adopting);
    this.#attempts.set(s.key, found?.attempt ?? o.initial.serves?.[s.key]?.attempt ?? 0);
    if (found === undefined) return undefined;
    found.stale = stale;
    this.#ports.add(found.port);
    // it holds the GPUs it was given when it started: the pool must not hand them out again
    o.pool.request(s.key, o.initial.serves?.[s.key]?.gpus ?? s.gpus);
    void found.exited.then(() => o.pool.release(s.key));
    return found;
  }

  /** The server's GPUs from the pool, waiting while stages hold them; a request the pool can never meet fails the consumer. */
  async #gpus(s: ServeInstance): Promise<Result<GpuSpec | undefined, UpFailure>> {
    for (;;) {
      const g = this.#o.pool.request(s.key, s.gpus);
      if (g.kind === 'granted') return ok(g.gpus);
      if (g.kind === 'never') return err({ kind: 'failed', reason: 'no-gpus', message: `${s.key} cannot run: ${g.why}`, evidence: [] });
      // a server kept up for a consumer that cannot start while this one's consumer waits would hold its GPUs for ever
      if (await this.#stopIdle(s)) continue;
      await sleep(1000, this.#o.interrupt);
      if (this.#o.interrupt.aborted) return err({ kind: 'interrupted' });
    }
  }

  /** Stops the servers no running consumer uses (their next consumer brings them up again); whether there was one. */
  async #stopIdle(needed: ServeInstance): Promise<boolean> {
    const idle = [...this.#settled.values()].filter((up) => up.serve.key !== needed.key && !up.ended && !up.stopping && !up.serve.consumers.some((c) => this.#active.has(c)));
    for (const up of idle) await stopServer(this.#o, up, `${needed.key} needs its GPUs; it starts again for its next consumer`, this.#o.graceSeconds);
    return idle.length > 0;
  }

  /** A server that ends while consumers use it fails their attempts with its log as evidence (once per server attempt). */
  #watchDeath(up: UpServer): void {
    if (up.watched) return;
    up.watched = true;
    void up.exited.then((x) => this.#recordDeath(up, x));
  }

  /** Once per server attempt: the failure event, and the cause for every consumer that used it. */
  #recordDeath(up: UpServer, x: JobExit): void {
    if (up.stopping || x.kind === 'detached' || up.deathRecorded) return;
    up.deathRecorded = true;
    // known dead before its follower noticed: the next consumer must bring up a new one
    up.ended = true;
    const users = [...(this.#waiting.get(up.serve.key) ?? [])];
    const code = x.kind === 'exited' ? `exit code ${x.exitCode ?? 'none'}` : x.why;
    const message = `${up.serve.key} ended (${code}) while ${users.join(', ') || 'its consumers'} used it`;
    const evidence = serverLogTail(this.#o.plan.runDir, up.serve.key, up.attempt);
    this.#o.emit({ type: 'serve-failed', ts: now(), key: up.serve.key, attempt: up.attempt, reason: 'died', message, evidence });
    for (const u of users) this.#died.set(u, { code: 'serve-died', ...causeInfo('serve-died'), evidence: [message, ...evidence] });
    void this.#o.backend.release(up.handle);
  }
}
