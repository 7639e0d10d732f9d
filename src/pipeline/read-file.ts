import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { err, ok, type Result } from '../util/result.js';

export interface ReadProblem {
  code: 'missing-file' | 'not-a-file' | 'too-large' | 'unreadable';
  message: string;
}

/**
 * Reads a regular file of at most `maxBytes`. Anything else is refused before it is opened: a folder
 * (EISDIR), a FIFO (opening one blocks until a writer comes), a device such as /dev/zero (endless).
 * The size is checked while reading too, for files whose stat size lies (/proc).
 */
export function readRegularFile(path: string, maxBytes: number, what: string): Result<Buffer, ReadProblem> {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return err({ code: 'missing-file', message: `${what} ${path} does not exist` });
    return err({ code: 'unreadable', message: `${what} ${path} cannot be read (${code ?? String(e)})` });
  }
  if (st.isDirectory()) return err({ code: 'not-a-file', message: `${what} ${path} is a folder, not a file` });
  if (!st.isFile()) return err({ code: 'not-a-file', message: `${what} ${path} is not a regular file (${kindOf(st)})` });
  if (st.size > maxBytes) return err({ code: 'too-large', message: `${what} ${path} is ${st.size} bytes, more than the ${maxBytes} allowed` });
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return err({ code: 'unreadable', message: `${what} ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})` });
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n <= 0) break;
      total += n;
      if (total > maxBytes) return err({ code: 'too-large', message: `${what} ${path} is larger than the ${maxBytes} bytes allowed` });
      chunks.push(Buffer.from(chunk.subarray(0, n)));
    }
    return ok(Buffer.concat(chunks));
  } catch (e) {
    return err({ code: 'unreadable', message: `${what} ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})` });
  } finally {
    closeSync(fd);
  }
}

/** What a non-regular path is, in words, for a message. */
export function kindOf(st: { isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}
