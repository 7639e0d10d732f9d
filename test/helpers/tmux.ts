import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { BIN, sleep } from './rig.js';

let tmuxOk: boolean | undefined;
/** Whether tmux is installed (the pseudo-terminal tests drive the CLI through it). In CI a missing tmux is a failure. */
export async function tmuxReady(): Promise<string | false> {
  if (tmuxOk === undefined) {
    const r = await execa('tmux', ['-V'], { reject: false });
    tmuxOk = r.exitCode === 0;
    if (!tmuxOk && process.env['CI'] === 'true') throw new Error('CI needs tmux for the terminal tests (apt-get install -y tmux)');
  }
  return tmuxOk ? false : 'tmux not installed (apt-get install -y tmux)';
}

/**
 * flux-train on a real pseudo-terminal, as a person runs it: a tmux server of its own, a window of a
 * given size, keys sent to it, the screen read back. Each `run` starts a fresh window in the folder.
 */
export class Terminal {
  readonly #base = `flux-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  #n = 0;

  /** a server per run: a new one on a killed one's socket can race its shutdown */
  get socket(): string {
    return `${this.#base}-${this.#n}`;
  }

  constructor(readonly dir: string) {}

  async tmux(...args: string[]): Promise<string> {
    const r = await execa('tmux', ['-L', this.socket, ...args], { reject: false });
    return r.stdout;
  }

  /** Starts `flux-train ARGS` in a new window; the exit code lands in a file read by `exitCode`. */
  async run(args: string[], size = { columns: 120, rows: 40 }): Promise<void> {
    await this.tmux('kill-server');
    this.#n++;
    const script = join(this.dir, `tty-run-${this.#n}.sh`);
    // a trap (not an ignore) keeps this shell alive through Ctrl-C so it can record the exit code;
    // the CLI starts with default signal handling. CI=true would make it choose the plain renderer.
    writeFileSync(
      script,
      `trap 'true' INT\ncd ${JSON.stringify(this.dir)}\nenv -u CI -u FLUX_TRAIN_RENDERER TERM=xterm-256color ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} ${args.map((a) => JSON.stringify(a)).join(' ')}\necho $? > ${JSON.stringify(this.exitFile)}\nexec sleep 3600\n`,
    );
    await execa('tmux', ['-L', this.socket, '-f', '/dev/null', 'new-session', '-d', '-x', String(size.columns), '-y', String(size.rows), '-s', 'flux', `sh ${script}`]);
    await this.tmux('set-option', '-g', 'history-limit', '10000');
  }

  get exitFile(): string {
    return join(this.dir, `tty-exit-${this.#n}`);
  }

  exitCode(): number | undefined {
    if (!existsSync(this.exitFile)) return undefined;
    const t = readFileSync(this.exitFile, 'utf8').trim();
    return t === '' ? undefined : Number(t);
  }

  async waitExit(timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const c = this.exitCode();
      if (c !== undefined) return c;
      await sleep(100);
    }
    throw new Error(`flux-train did not end within ${timeoutMs} ms; the screen:\n${await this.screen()}`);
  }

  async keys(...keys: string[]): Promise<void> {
    await this.tmux('send-keys', '-t', 'flux', ...keys);
  }

  async resize(columns: number, rows: number): Promise<void> {
    await this.tmux('resize-window', '-t', 'flux', '-x', String(columns), '-y', String(rows));
  }

  /** The visible screen. */
  async screen(): Promise<string> {
    return this.tmux('capture-pane', '-p', '-t', 'flux');
  }

  /** Lines tmux has pushed into the window's scrollback so far. */
  async historySize(): Promise<number> {
    return Number(await this.tmux('display-message', '-p', '-t', 'flux', '#{history_size}'));
  }

  async waitScreen(re: RegExp, timeoutMs: number): Promise<string> {
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      last = await this.screen();
      if (re.test(last)) return last;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${re} on the screen:\n${last}`);
  }

  async close(): Promise<void> {
    await this.tmux('kill-server');
  }
}
