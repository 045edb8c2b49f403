/**
 * Temp files: how they are named, what removes them when a command is
 * interrupted, and what removes the ones a killed command left.
 *
 * Every file that should exist only if its command completes (an output's temp
 * file, a blob on its way into the store, the parts of a split before their
 * manifest) is registered here while it is unfinished. The CLI's signal
 * handler calls removeUnfinished(), which deletes them all synchronously and
 * then the process exits: no await of the interrupted work runs in between, so
 * nothing can recreate one behind it.
 *
 * SIGKILL cannot be caught. Its leftovers carry the writer's PID in their
 * name, so the next command that writes the same thing removes those of PIDs
 * that are no longer alive (removeStaleTemps); one that only reads counts
 * them (staleTemps).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFsError } from '../errors.js';

/** A unique name for a temp file in dir: the pid says who wrote it, the random part keeps writers apart. */
export function tempName(dir: string, kind: string): string {
  return join(dir, `${kind}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** tempName(dir, kind), after removing what killed writers left under that kind (removeStaleTemps). */
export async function freshTempName(dir: string, kind: string): Promise<string> {
  await removeStaleTemps(dir, tempPattern(escapeRegExp(kind)));
  return tempName(dir, kind);
}

const unfinished = new Set<{ path: string; contentsOnly: boolean; keep: (() => boolean) | undefined }>();

/**
 * Registers path (a file or a directory) for removal if the command is
 * interrupted; with contentsOnly, what is in the directory goes and the
 * directory stays (one that existed, empty, before the command filled it).
 * keep, asked (synchronously) when the signal comes, can spare it: a new
 * store that holds an image by then. The returned function unregisters it
 * once it is complete or gone.
 */
export function removeOnInterrupt(path: string, contentsOnly = false, keep?: () => boolean): () => void {
  const entry = { path, contentsOnly, keep };
  unfinished.add(entry);
  return () => void unfinished.delete(entry);
}

/** Deletes everything registered, synchronously (see above); returns how many paths were registered. Errors are ignored: the process is on its way out. */
export function removeUnfinished(): number {
  const count = unfinished.size;
  for (const { path, contentsOnly, keep } of unfinished) {
    try {
      if (keep?.()) continue;
      if (!contentsOnly) rmSync(path, { recursive: true, force: true });
      // As buffers: an archive's member names need not be UTF-8.
      else for (const name of readdirSync(path, { encoding: 'buffer' })) rmSync(Buffer.concat([Buffer.from(`${path}/`), name]), { recursive: true, force: true });
    } catch {
      // A file we cannot remove now is one a later run of the same command removes (removeStaleTemps).
    }
  }
  unfinished.clear();
  return count;
}

/** What tempName(dir, kind) makes, for kind matching `kind` (a regular expression source); the PID is group 1. */
export function tempPattern(kind: string): RegExp {
  return new RegExp(`^${kind}-(\\d+)-[0-9a-f]{12}$`);
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Removes the temp files in dir whose names match pattern (group 1: the PID)
 * and whose writer is no longer running; a live PID's file may be a
 * concurrent command's and is kept. Returns the names removed. A directory
 * that cannot be read is left alone: this is tidying, not the command's work.
 */
export async function removeStaleTemps(dir: string, pattern: RegExp): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await staleNames(dir, pattern)) {
    try {
      await rm(join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Not ours to remove after all (permissions); gc or the user can.
    }
  }
  return removed;
}

/** What removeStaleTemps would remove, counted and sized, for a reader that may not remove anything. */
export async function staleTemps(dir: string, pattern: RegExp): Promise<{ count: number; bytes: number }> {
  const names = await staleNames(dir, pattern);
  let bytes = 0;
  for (const name of names) bytes += (await lstat(join(dir, name)).catch(() => undefined))?.size ?? 0;
  return { count: names.length, bytes };
}

async function staleNames(dir: string, pattern: RegExp): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names.sort().filter((name) => {
    const pid = pattern.exec(name)?.[1];
    return pid !== undefined && !isAlive(Number(pid));
  });
}

/** Signal 0 checks that a process exists without touching it; EPERM means it exists under another user. */
export function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** A temp directory (named as tempName names them) made on first use (most saves never spool), removed with everything in it. */
export class Spool {
  private dir: Promise<string> | undefined;
  private files = 0;
  private release = (): void => {};

  constructor(private readonly parent: string, private readonly kind: string) {}

  async path(): Promise<string> {
    this.dir ??= this.make().catch((err: unknown) => {
      throw fromFsError(err, this.parent);
    });
    return join(await this.dir, `spool-${++this.files}`);
  }

  async remove(): Promise<void> {
    const dir = await this.dir?.catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
    this.release();
  }

  private async make(): Promise<string> {
    const dir = await freshTempName(this.parent, this.kind);
    this.release = removeOnInterrupt(dir);
    await mkdir(dir, { mode: 0o700 });
    return dir;
  }
}
