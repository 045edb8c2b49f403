/**
 * Who draws the progress line of `rootfs pack / | rootfs import - base:1` in one terminal: both would
 * redraw the same line in turn. The rule: a rootfs whose stdout is a pipe that another rootfs reads
 * (its stdin) stays quiet, and the last rootfs of the pipeline draws, so the job shows one line, as
 * docker shows one. Found through /proc: the pipe behind fd 1 is `pipe:[INODE]`, and a process
 * reading it has the same link at fd 0. Anywhere /proc cannot tell (not Linux, another user's
 * process), both draw, as before.
 *
 * Only the writer knows how much the stream will hold (pack's estimate, save's blobs), and only the
 * reader draws, so the writer hands its total on: a small file in a directory of this user's
 * (`$XDG_RUNTIME_DIR/rootfs`, else `$TMPDIR/rootfs-UID`, mode 0700), named for the pipe's inode
 * and the writer's PID (io/temp.ts names), removed when the writer ends. Nothing of it goes into the
 * stream: pack's tar stays byte-exact. The reader believes a file only when that PID still writes
 * into the very pipe it reads.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMetadataSync } from '../io/metadata.js';
import { removeOnInterrupt, removeStaleTemps, tempName, tempPattern } from '../io/temp.js';

let known: boolean | undefined;
let checkedAt = 0;

/** How long a pipe's writer holds back its line while its reader may still be starting (both were started at once). */
const settling = 500;

/**
 * True when this process draws the progress line: its stdout feeds no rootfs. For its first half
 * second a process writing into a pipe does not draw and asks each tenth of a second: the rootfs
 * reading the pipe may not have been started yet, and two lines would fight over the terminal.
 */
export function drawsHere(): boolean {
  const young = process.uptime() * 1000 < settling;
  if (feedsAnotherRootfs(young ? 100 : 1000)) return false;
  return !(young && link('/proc/self/fd/1')?.startsWith('pipe:'));
}

/**
 * True when stdout is a pipe into another rootfs. The reader may not have started when the first
 * progress is drawn, so "no" is asked again once it is maxAge old; "yes" is kept.
 */
export function feedsAnotherRootfs(maxAge = 1000): boolean {
  if (known) return true;
  const now = Date.now();
  if (known === false && now - checkedAt < maxAge) return false;
  checkedAt = now;
  known = findReader();
  return known;
}

function findReader(): boolean {
  const pipe = link('/proc/self/fd/1');
  if (pipe === undefined || !pipe.startsWith('pipe:')) return false;
  const self = script(process.argv[1]);
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid);
  } catch {
    return false;
  }
  return pids.some((pid) => link(`/proc/${pid}/fd/0`) === pipe && isRootfs(pid, self));
}

/** The same program: its script (argv[1], as node resolves it) is ours, or is called rootfs. */
function isRootfs(pid: string, self: string | undefined): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  return argv.slice(0, 3).some((arg) => (self !== undefined && script(arg) === self) || /(?:^|\/)rootfs(?:\.js)?$/.test(arg));
}

function script(path: string | undefined): string | undefined {
  if (path === undefined || path === '') return undefined;
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

function link(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** The total of the bytes a stream will hold; estimated when no one can know it exactly (pack's statfs). */
export interface StreamTotal {
  total: number;
  estimated: boolean;
}

const handing: { path?: string; release?: () => void; sent?: string } = {};

/**
 * Tells whoever reads our stdout pipe how many bytes to expect. Not only a rootfs found reading it:
 * at the first bytes the reader may not have started yet, and the file costs nothing to anyone else.
 */
export function handTotalOn(total: StreamTotal): void {
  const text = JSON.stringify({ total: total.total, estimated: total.estimated });
  if (text === handing.sent) return;
  const pipe = pipeInode('/proc/self/fd/1');
  const dir = pipe === undefined ? undefined : totalsDirectory(true);
  if (dir === undefined) return;
  if (handing.path === undefined) {
    // What killed writers left (their PIDs are gone) goes first; the promise only tidies.
    void removeStaleTemps(dir, tempPattern('total-\\d+'));
    handing.path = tempName(dir, `total-${pipe}`);
    handing.release = removeOnInterrupt(handing.path);
  }
  try {
    // Written in place: a reader that meets it half-written ignores it and reads again a second later.
    writeFileSync(handing.path, text, { mode: 0o600 });
    handing.sent = text;
  } catch {
    // Progress is a courtesy: the stream goes on without it.
  }
}

/** Removes the file handTotalOn wrote (the command is over). */
export function withdrawTotal(): void {
  if (handing.path === undefined) return;
  rmSync(handing.path, { force: true });
  handing.release?.();
  handing.path = handing.release = handing.sent = undefined;
}

const handed: { checkedAt: number; total?: StreamTotal; gone?: boolean } = { checkedAt: 0 };

/**
 * The total the rootfs writing into our stdin handed on, if any: looked for at each draw until found
 * (the writer may start after us), then read again each second while the writer runs (save's total
 * grows as it converts layers), the last one kept when it has ended.
 */
export function totalHandedIn(): StreamTotal | undefined {
  const now = Date.now();
  if (handed.gone || (handed.total !== undefined && now - handed.checkedAt < 1000)) return handed.total;
  handed.checkedAt = now;
  const pipe = pipeInode('/proc/self/fd/0');
  const dir = pipe === undefined ? undefined : totalsDirectory(false);
  if (dir === undefined) return handed.total;
  const pattern = tempPattern(`total-${pipe}`);
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => pattern.test(name));
  } catch {
    return handed.total;
  }
  // Only a writer still writing into this pipe speaks for it (a pipe's inode is reused once it is gone).
  const writer = names.find((name) => pipeInode(`/proc/${pattern.exec(name)![1]}/fd/1`) === pipe);
  if (writer === undefined) {
    if (handed.total !== undefined) handed.gone = true;
    return handed.total;
  }
  try {
    const value = JSON.parse(readMetadataSync(join(dir, writer), 'progressTotal', 'a progress total').toString('utf8')) as Partial<StreamTotal>;
    if (typeof value.total === 'number' && value.total > 0 && Number.isSafeInteger(value.total)) handed.total = { total: value.total, estimated: value.estimated === true };
  } catch {
    // Half-written, or gone meanwhile: asked again in a second.
  }
  return handed.total;
}

function pipeInode(fd: string): string | undefined {
  return /^pipe:\[(\d+)\]$/.exec(link(fd) ?? '')?.[1];
}

/** This user's directory for handed totals, made when asked; undefined when it is not ours alone. */
function totalsDirectory(make: boolean): string | undefined {
  const uid = process.getuid?.() ?? 0;
  const runtime = process.env.XDG_RUNTIME_DIR;
  const dir = runtime ? join(runtime, 'rootfs') : join(tmpdir(), `rootfs-${uid}`);
  try {
    if (make) mkdirSync(dir, { mode: 0o700, recursive: true });
    const info = lstatSync(dir);
    // Anyone else's (a directory planted in a shared /tmp) could feed us totals: refused.
    return info.isDirectory() && info.uid === uid && (info.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}
