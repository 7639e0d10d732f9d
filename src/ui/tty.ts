import { Listr, type ListrTaskWrapper, type DefaultRenderer, type SimpleRenderer } from 'listr2';
import type { Plan } from '../pipeline/plan-types.js';
import type { RunEvent } from '../run/events.js';
import { formatDuration, formatProgress } from './format.js';
import type { Renderer } from './renderer.js';

type Task = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

interface Slot {
  task?: Task;
  resolve: () => void;
  reject: (e: Error) => void;
  settled: boolean;
  title: string;
  buffered: RunEvent[];
}

/** The live tree for a terminal: rounds, then stages, with step/total, loss, lr and ETA. */
export class TtyRenderer implements Renderer {
  #slots = new Map<string, Slot>();
  #done: Promise<unknown>;

  constructor(plan: Plan) {
    const rounds = [...new Set(plan.stages.map((s) => s.round))];
    const list = new Listr(
      rounds.map((r) => ({
        title: `round ${r}`,
        task: (_ctx: unknown, task: Task) =>
          task.newListr(
            plan.stages
              .filter((s) => s.round === r)
              .map((s) => {
                const slot = this.#slot(s.key, `${s.id} (${s.stage})`);
                return {
                  title: slot.title,
                  task: (_c: unknown, t: Task) => {
                    slot.task = t;
                    for (const e of slot.buffered.splice(0)) this.#apply(slot, e);
                    return new Promise<void>((resolve, reject) => {
                      slot.resolve = resolve;
                      slot.reject = reject;
                      if (slot.settled) resolve();
                    });
                  },
                };
              }),
            { concurrent: false, exitOnError: false },
          ),
      })),
      { concurrent: false, exitOnError: false, renderer: 'default', rendererOptions: { collapseSubtasks: false, showErrorMessage: true } },
    );
    this.#done = list.run().catch(() => undefined);
  }

  #slot(key: string, title: string): Slot {
    let s = this.#slots.get(key);
    if (!s) {
      s = { resolve: () => undefined, reject: () => undefined, settled: false, title, buffered: [] };
      this.#slots.set(key, s);
    }
    return s;
  }

  handle(e: RunEvent): void {
    if (!('key' in e) || e.key === undefined) return;
    const slot = this.#slots.get(e.key);
    if (!slot) return;
    if (!slot.task) {
      slot.buffered.push(e);
      if (e.type === 'stage-finished' || e.type === 'stage-skipped') slot.settled = true;
      return;
    }
    this.#apply(slot, e);
  }

  #apply(slot: Slot, e: RunEvent): void {
    const t = slot.task as Task;
    switch (e.type) {
      case 'stage-progress':
        t.output = formatProgress(e);
        break;
      case 'stage-started':
      case 'stage-reattached':
        t.output = `${e.type === 'stage-reattached' ? 're-attached to' : 'running in'} ${e.handle.name ?? e.handle.id}`;
        break;
      case 'stage-retry':
        t.output = `retrying (attempt ${e.attempt}) in ${formatDuration(e.delayMs)}`;
        break;
      case 'stage-failed':
        if (!e.willRetry) this.#settle(slot, new Error(e.message));
        else t.output = e.shortMessage;
        break;
      case 'stage-finished':
        t.title = `${slot.title}: ${formatDuration(e.durationMs)}${e.finalLoss !== undefined ? `, loss ${e.finalLoss.toFixed(4)}` : ''}`;
        this.#settle(slot);
        break;
      case 'stage-skipped':
        t.skip(`${slot.title}: skip (${e.reason})`);
        this.#settle(slot);
        break;
      case 'stage-blocked':
        this.#settle(slot, new Error(`blocked: ${e.reason}`));
        break;
      case 'stage-interrupted':
        this.#settle(slot, new Error(e.detached ? 'left running (detached)' : 'interrupted'));
        break;
      case 'checkpoint-quarantined':
      case 'warning':
      case 'stage-moved-aside':
        t.output = e.type === 'warning' ? e.message : e.type === 'stage-moved-aside' ? `old outputs moved to ${e.to}` : `quarantined ${e.path}`;
        break;
      default:
        break;
    }
  }

  #settle(slot: Slot, error?: Error): void {
    if (slot.settled && slot.task) return;
    slot.settled = true;
    if (error) slot.reject(error);
    else slot.resolve();
  }

  async end(): Promise<void> {
    for (const slot of this.#slots.values()) {
      if (!slot.settled) {
        slot.settled = true;
        if (slot.task) slot.task.skip(`${slot.title}: not reached`);
        slot.resolve();
      }
    }
    await this.#done;
  }
}
