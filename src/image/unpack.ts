/**
 * `rootfs unpack`: an image's merged root filesystem extracted into a
 * directory with everything a root needs: owners, modes (setuid kept: chmod
 * after chown, which clears it), xattrs (after chown, which clears
 * security.capability), device nodes, fifos, hardlinks, symlinks, mtimes
 * (directories last, deepest first, since writing into one changes it).
 *
 * Nothing is written outside DIR: member names are normalised and refused
 * when absolute or with "..", and no parent of a member is ever followed
 * through a symlink: each parent is checked with lstat (or known to be a
 * directory this extraction made), so `a -> /tmp` then `a/evil` is refused.
 * DIR must be empty; if extraction fails, what it wrote is removed.
 *
 * Rootless (as umoci's --rootless), for a user who may not chown, mknod a
 * device or set trusted./security. xattrs: files are left owned by that
 * user, and device nodes and those xattrs are skipped, each reported through
 * onSkip, while everything else is extracted as usual. Without it, the first
 * "operation not permitted" stops the extraction and says how to go on.
 */
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink } from 'node:fs/promises';
import { displayPath, fromFsError, HostIoError, InvalidInputError, UsageError } from '../errors.js';
import { removeOnInterrupt } from '../io/temp.js';
import { refuseStoreDestination } from '../io/output.js';
import { flattenLayers, type FlatMember } from '../layers/flatten.js';
import type { PlanOptions } from '../layers/plan.js';
import { native } from '../native/index.js';
import type { Store } from '../store/store.js';
import type { TarEntry } from '../tar/header.js';
import { checkLayerEntry, safeLinkTarget, safeMemberPath } from '../tar/paths.js';
import { resolveImage } from '../store/resolve.js';

const SLASH = 0x2f;
const nodeTypes = { chardev: constants.S_IFCHR, blockdev: constants.S_IFBLK, fifo: constants.S_IFIFO } as const;

export interface UnpackResult {
  entries: number;
  bytes: number;
  /** What rootless extraction left out. */
  skipped: { devices: number; xattrs: number };
}

export interface UnpackOptions {
  rootless?: boolean;
  /** The plan pass, which reads every layer before anything is written (layers/plan.ts). */
  onLayer?: PlanOptions['onLayer'];
  onPlanned?: PlanOptions['onPlanned'];
  onProgress?: (entries: number, bytes: number) => void;
  /** Rootless: a device node or xattr left out (path as displayPath shows it). */
  onSkip?: (path: string, what: string) => void;
  /** A layer whose media type its bytes contradict (read as the bytes say). */
  onWarning?: (message: string) => void;
}

/** Extracts the merged layers of image `ref` into `dir` (empty or missing). */
export async function unpackImage(store: Store, ref: string, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const image = await resolveImage(store, ref);
  const { onLayer, onPlanned, onWarning } = options;
  return extractMembers(flattenLayers(store, image.manifest.layers, { where: ref, ...(onLayer ? { onLayer } : {}), ...(onPlanned ? { onPlanned } : {}), ...(onWarning ? { onWarning } : {}) }), dir, options);
}

/** Extracts members (normalised or not: each is checked here) into `dir`, which must be empty or missing. */
export async function extractMembers(members: AsyncIterable<FlatMember>, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const { created, release } = await prepareTarget(dir);
  const extractor = new Extractor(Buffer.from(dir), options);
  try {
    for await (const member of members) {
      await extractor.extract(member);
      options.onProgress?.(extractor.entries, extractor.bytes);
    }
    await extractor.finishDirectories();
  } catch (err) {
    await clearTarget(dir, created);
    throw err;
  } finally {
    release();
  }
  return { entries: extractor.entries, bytes: extractor.bytes, skipped: extractor.skipped };
}

/** True when dir was created here (and so is removed again on failure). */
async function prepareTarget(dir: string): Promise<{ created: boolean; release: () => void }> {
  await refuseStoreDestination(dir);
  try {
    const info = await lstat(dir);
    if (!info.isDirectory()) throw new UsageError(`${dir} is not a directory`);
    if ((await readdir(dir)).length > 0) throw new UsageError(`${dir} is not empty: unpack needs an empty or missing directory`);
    // An interrupt must leave dir as it was: empty again.
    return { created: false, release: removeOnInterrupt(dir, true) };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, dir);
  }
  // Or gone, if made here: registered before the mkdir, so no interrupt can land between.
  const release = removeOnInterrupt(dir);
  try {
    await mkdir(dir, { mode: 0o755 });
  } catch (err) {
    release();
    throw fromFsError(err, dir);
  }
  return { created: true, release };
}

/** Everything in dir was written by this extraction (it was empty); rm does not follow symlinks. */
async function clearTarget(dir: string, created: boolean): Promise<void> {
  if (created) {
    await rm(dir, { recursive: true, force: true });
    return;
  }
  for (const name of await readdir(dir, { encoding: 'buffer' })) await rm(joinBuffer(Buffer.from(dir), name), { recursive: true, force: true });
}

function joinBuffer(dir: Buffer, rel: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.from('/'), rel]);
}

/** xattr namespaces only a privileged process may set (trusted.*, and security.* such as file capabilities). */
const privilegedXattr = /^(?:trusted|security)\./;

/** An "operation not permitted" that a privileged user would not meet, with the way out. */
function notPermitted(err: unknown, path: Buffer, what?: string): Error {
  const shown = displayPath(path);
  if ((err as NodeJS.ErrnoException).code === 'EPERM') {
    return new HostIoError(`${shown}: ${what ? `cannot ${what}: ` : ''}operation not permitted (run as root, or use --rootless)`, { cause: err });
  }
  if (what) return new HostIoError(`${shown}: cannot ${what}: ${(err as Error).message}`, { cause: err });
  return (err instanceof Error && 'code' in err ? fromFsError(err, path) : err) as Error;
}

class Extractor {
  entries = 0;
  bytes = 0;
  readonly skipped = { devices: 0, xattrs: 0 };
  private readonly rootless: boolean;
  /** Relative paths (latin1 keys) known to be real directories: made here, or checked with lstat. */
  private readonly directories = new Set<string>(['.']);
  /** Directory metadata applied at the end, children before parents. */
  private readonly pending: { path: Buffer; entry: TarEntry }[] = [];

  constructor(
    private readonly root: Buffer,
    private readonly options: UnpackOptions,
  ) {
    this.rootless = options.rootless ?? false;
  }

  /** lchown, unless rootless: then the file stays this user's. */
  private async chown(target: Buffer, entry: TarEntry): Promise<void> {
    if (!this.rootless) await lchown(target, entry.uid, entry.gid);
  }

  async extract({ entry, body }: FlatMember): Promise<void> {
    const where = displayPath(entry.path);
    checkLayerEntry(entry, where);
    const rel = safeMemberPath(entry.path, where);
    this.entries++;
    const isRoot = rel.length === 1 && rel[0] === 0x2e;
    if (!isRoot) await this.ensureParents(rel, where);
    const target = isRoot ? this.root : joinBuffer(this.root, rel);
    try {
      switch (entry.type) {
        case 'directory':
          if (!isRoot && !this.directories.has(rel.toString('latin1'))) {
            await mkdir(target, { mode: 0o700 });
            this.directories.add(rel.toString('latin1'));
          }
          await this.chown(target, entry);
          this.setXattrs(target, entry, where);
          this.pending.push({ path: target, entry });
          return;
        case 'file': {
          const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            if (body) {
              for await (const chunk of body as AsyncIterable<Buffer>) {
                for (let done = 0; done < chunk.length; ) done += (await handle.write(chunk, done)).bytesWritten;
              }
            }
            this.bytes += entry.size;
            if (!this.rootless) await handle.chown(entry.uid, entry.gid);
            await handle.chmod(entry.mode);
          } finally {
            await handle.close();
          }
          break;
        }
        case 'hardlink': {
          const linked = safeLinkTarget(entry.linkpath ?? Buffer.alloc(0), where);
          await this.ensureParents(linked, where);
          // link(2) does not follow a symlink in its last component; the parents were checked just above.
          await link(joinBuffer(this.root, linked), target);
          return; // the inode's owner, mode and xattrs are its target's
        }
        case 'symlink':
          await symlink(entry.linkpath ?? Buffer.alloc(0), target);
          await this.chown(target, entry);
          break;
        default:
          // A fifo needs no privilege; a device node does.
          if (this.rootless && entry.type !== 'fifo') {
            this.skipped.devices++;
            this.options.onSkip?.(where, `${entry.type === 'chardev' ? 'character' : 'block'} device ${entry.devmajor ?? 0},${entry.devminor ?? 0} not created (--rootless)`);
            return;
          }
          native.mknod(target, nodeTypes[entry.type] | (entry.mode & 0o7777), entry.devmajor ?? 0, entry.devminor ?? 0);
          await this.chown(target, entry);
          await chmod(target, entry.mode);
      }
      this.setXattrs(target, entry, where);
      await lutimes(target, entry.mtime, entry.mtime);
    } catch (err) {
      throw err instanceof HostIoError ? err : notPermitted(err, target);
    }
  }

  async finishDirectories(): Promise<void> {
    for (const { path, entry } of this.pending.reverse()) {
      try {
        await chmod(path, entry.mode);
        await lutimes(path, entry.mtime, entry.mtime);
      } catch (err) {
        throw fromFsError(err, path);
      }
    }
  }

  /** Every parent of rel must be a real directory in the tree (made here if missing), never a symlink. */
  private async ensureParents(rel: Buffer, where: string): Promise<void> {
    let end = rel.indexOf(SLASH);
    while (end >= 0) {
      const parent = rel.subarray(0, end);
      const key = parent.toString('latin1');
      if (!this.directories.has(key)) {
        const path = joinBuffer(this.root, parent);
        let info;
        try {
          info = await lstat(path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, path);
        }
        if (info && !info.isDirectory()) {
          const what = info.isSymbolicLink() ? 'a symbolic link' : 'not a directory';
          throw new InvalidInputError(where, `refusing to write through '${displayPath(parent)}', which is ${what}`);
        }
        if (!info) {
          try {
            await mkdir(path, { mode: 0o755 });
          } catch (err) {
            throw fromFsError(err, path);
          }
        }
        this.directories.add(key);
      }
      end = rel.indexOf(SLASH, end + 1);
    }
  }

  private setXattrs(path: Buffer, entry: TarEntry, where: string): void {
    if (!entry.xattrs) return;
    for (const [name, value] of entry.xattrs) {
      if (this.rootless && privilegedXattr.test(name)) {
        this.skipped.xattrs++;
        this.options.onSkip?.(where, `xattr ${name} not set (--rootless)`);
        continue;
      }
      try {
        native.lsetxattr(path, Buffer.from(name), value);
      } catch (err) {
        throw notPermitted(err, path, `set xattr ${name}`);
      }
    }
  }
}
