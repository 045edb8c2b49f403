/**
 * When and where a directory was captured, so that its next capture can
 * trust a file without reading it, as git trusts a clean index entry only
 * when it is not "racy".
 *
 * A file's size and whole-second mtime can stay the same across an edit
 * (written again within the second, or its mtime set back), so matching
 * metadata alone proves nothing. A file's ctime cannot be set by any call:
 * every write, chmod, link or utimes moves it to the kernel's clock. A file
 * whose ctime is older than the moment the base's walk began has not changed
 * since, so its metadata matching the base's means its content is what the
 * base read. Anything else (a ctime at or after that moment, a base we did
 * not walk ourselves, another directory or host) is read and hashed.
 */
import { realpathSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { fromFsError } from '../errors.js';
import { Annotation } from '../oci/types.js';

/**
 * Filesystem timestamps come from the kernel's coarse clock (a tick behind
 * the wall clock) and NTP slews it: a file changed just after the walk
 * began can carry a ctime just before it.
 */
const MARGIN_NS = 1_000_000_000n;

/** Now, in nanoseconds since the epoch (the wall clock, to the microsecond Node gives). */
export function wallClockNs(): bigint {
  return BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

/** Which directory of which host a tree was read from: its capture time means nothing for another. */
export function treeOrigin(dir: string): string {
  try {
    const { dev, ino } = statSync(realpathSync(dir), { bigint: true });
    return `${hostname()} dev=${dev} ino=${ino}`;
  } catch (err) {
    throw fromFsError(err, dir);
  }
}

/** The manifest annotations of a tree whose walk of `origin` began at `startedNs`. */
export function captureAnnotations(startedNs: bigint, origin: string): Record<string, string> {
  const seconds = startedNs / 1_000_000_000n;
  const fraction = (startedNs % 1_000_000_000n).toString().padStart(9, '0');
  const started = new Date(Number(seconds) * 1000).toISOString().replace('.000Z', `.${fraction}Z`);
  return { [Annotation.CaptureStarted]: started, [Annotation.CaptureRoot]: origin };
}

/**
 * Before what ctime (ns) a file of `origin` whose metadata matches the base's
 * is unchanged since the base read it; undefined when nothing can be trusted
 * (the base was not walked by us from this directory, or says so badly).
 */
export function trustedBefore(annotations: Record<string, string> | undefined, origin: string | undefined): bigint | undefined {
  const started = annotations?.[Annotation.CaptureStarted];
  if (origin === undefined || started === undefined || annotations?.[Annotation.CaptureRoot] !== origin) return undefined;
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z$/.exec(started);
  if (!match) return undefined;
  const seconds = Date.parse(`${match[1]}Z`);
  if (!Number.isFinite(seconds)) return undefined;
  return (BigInt(seconds) / 1000n) * 1_000_000_000n + BigInt(match[2]!) - MARGIN_NS;
}

/** Annotations that describe a captured tree: a derived image whose tree differs must not keep them. */
export const CAPTURE_ANNOTATIONS: readonly string[] = [Annotation.CaptureStarted, Annotation.CaptureRoot];
