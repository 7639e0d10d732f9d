import { renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { judgeLock } from '../state/lock.js';
import { RunDir } from '../util/run-layout.js';
import { checkRunDirPath, runDirOption } from '../state/run-dir.js';
import { FluxError } from '../util/errors.js';
import { unreachable } from '../util/unreachable.js';
import { EXIT } from './context.js';

/**
 * Removes a run dir's lock by hand, for the cases the automatic takeover cannot decide (an owner on
 * another host whose heartbeat is still fresh). Shows the owner first; refuses while that owner is
 * alive on this host, or may be alive elsewhere, unless --force. The lock is moved aside, not deleted.
 */
export async function unlockCommand(o: { runDir?: string; force?: boolean }): Promise<number> {
  const runDir = runDirOption(o.runDir, 'runs/reasonflux-v2');
  checkRunDirPath(runDir);
  const path = new RunDir(runDir).lockFile;
  const v = judgeLock(path);
  let what: string;
  switch (v.kind) {
    case 'free':
      process.stdout.write(`${runDir} is not locked\n`);
      return EXIT.ok;
    case 'being-written':
      what = 'a lock that another flux-train is creating right now';
      if (!o.force) throw new FluxError('locked', `${path} is being created by another flux-train at this moment`, 'wait a few seconds and look again with `flux-train status`', 'locked');
      break;
    case 'gone':
      what = `a lock whose owner is gone (${v.why})`;
      break;
    case 'held': {
      const ow = v.owner;
      what = `the lock of flux-train pid ${ow.pid} on ${ow.host} (started ${ow.startedAt}, \`${ow.command}\`${ow.current ? `, running ${ow.current}` : ''}, ${v.why})`;
      if (!o.force) {
        const alive = v.aliveHere ? `that process is alive on this host (${hostname()})` : `its heartbeat from ${ow.host} is recent, so it may still be running there`;
        throw new FluxError(
          'locked',
          `${runDir} is locked by flux-train pid ${ow.pid} on ${ow.host} (started ${ow.startedAt}, \`${ow.command}\`, ${v.why}); ${alive}`,
          v.aliveHere
            ? `stop it first (Ctrl-C in its terminal, or kill ${ow.pid}); its lock then goes by itself. \`flux-train unlock --force\` removes the lock anyway, and two flux-trains on one run dir can corrupt it`
            : `stop it on ${ow.host} first, or pass --force if you know it is gone`,
          'locked',
        );
      }
      break;
    }
    default:
      unreachable(v, 'lock verdict');
  }
  const aside = `${path}.removed-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stdout.write(`${runDir} is not locked (the lock went away meanwhile)\n`);
      return EXIT.ok;
    }
    throw new FluxError('lock-io', `cannot move the lock ${path} aside: ${(e as Error).message}`, 'check the permissions of the run dir', 'bad-input', { cause: e });
  }
  process.stdout.write(`removed ${what}; kept as ${aside}\n`);
  return EXIT.ok;
}
