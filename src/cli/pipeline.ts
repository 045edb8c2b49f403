/**
 * Who draws the progress line of `rootfs pack / | rootfs import - base:1` in one terminal: both would
 * redraw the same line in turn. The rule: a rootfs whose stdout is a pipe that another rootfs reads
 * (its stdin) stays quiet, and the last rootfs of the pipeline draws, so the job shows one line, as
 * docker shows one. Found through /proc: the pipe behind fd 1 is `pipe:[INODE]`, and a process
 * reading it has the same link at fd 0. Anywhere /proc cannot tell (not Linux, another user's
 * process), both draw, as before.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';

let known: boolean | undefined;
let checkedAt = 0;

/**
 * True when stdout is a pipe into another rootfs. The reader may not have started when the first
 * progress is drawn, so "no" is asked again each second; "yes" is kept.
 */
export function feedsAnotherRootfs(): boolean {
  if (known) return true;
  const now = Date.now();
  if (known === false && now - checkedAt < 1000) return false;
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
