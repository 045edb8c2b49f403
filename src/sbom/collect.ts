/**
 * Which members of a tree are package databases, and what they say: the one
 * observer every SBOM source feeds (a directory walk, a tar stream, an
 * image's merged layers). The few database files are spooled to a temp
 * directory as they pass, capped in size, then parsed from there, so a
 * stream is read once and a 200 MB rpmdb is read by pages, never held whole.
 * A database that cannot be read is a warning naming it, never an error.
 */
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { displayPath, printable } from '../errors.js';
import { Spool } from '../io/temp.js';
import type { TreeMember } from '../layers/members.js';
import type { TarWatcher } from '../tar/reader.js';
import { readApkInstalled } from './apk.js';
import { readDpkgStatus } from './dpkg.js';
import { parseOsRelease } from './os-release.js';
import { RandomAccess } from './random-access.js';
import { bdbHashValues } from './rpm-bdb.js';
import { parseRpmHeader } from './rpm-header.js';
import { ndbValues } from './rpm-ndb.js';
import { sqliteBlobs } from './rpm-sqlite.js';
import { count } from '../text.js';
import { comparePackages, type InstalledPackage, type Inventory } from './types.js';

type DatabaseKind = 'os-release' | 'dpkg' | 'dpkg-part' | 'apk' | 'rpm-sqlite' | 'rpm-ndb' | 'rpm-bdb';

const rpmDirectories = ['var/lib/rpm', 'usr/lib/sysimage/rpm', 'usr/share/rpm'];
const rpmFiles: Record<string, DatabaseKind> = { 'rpmdb.sqlite': 'rpm-sqlite', 'Packages.db': 'rpm-ndb', Packages: 'rpm-bdb' };
/** When a root has more than one rpmdb (a converted one's leftover), the newest format is the one rpm reads. */
const rpmPreference: DatabaseKind[] = ['rpm-sqlite', 'rpm-ndb', 'rpm-bdb'];
/** Text databases: a status file of 10 MB is large; 64 MB is no status file. */
const textCap = 64 << 20;
/** An rpmdb of a few thousand packages is 100-300 MB. */
const rpmCap = 4 * 2 ** 30;

/** A tree path as the tables above name it: relative, without "./". */
function cleanPath(path: string): string {
  return path.replace(/^(\.?\/)+/, '');
}

/** What kind of database a tree path (as in a tar: relative, maybe with "./") is, if any. */
export function databaseKind(path: string): DatabaseKind | undefined {
  const p = cleanPath(path);
  if (p === 'etc/os-release' || p === 'usr/lib/os-release') return 'os-release';
  if (p === 'var/lib/dpkg/status') return 'dpkg';
  if (/^var\/lib\/dpkg\/status\.d\/[^/]+$/.test(p) && !p.endsWith('.md5sums')) return 'dpkg-part';
  if (p === 'lib/apk/db/installed') return 'apk';
  const slash = p.lastIndexOf('/');
  if (rpmDirectories.includes(p.slice(0, slash))) return rpmFiles[p.slice(slash + 1)];
  return undefined;
}

interface Spooled {
  path: string;
  kind: DatabaseKind;
  file: string;
  tooLarge: boolean;
}

/** A member's content on its way to a spool file: written as it passes, synchronously (a tar observer cannot wait). */
interface MemberSink {
  write(chunk: Buffer): void;
  end(): void;
}

/**
 * The observer: sees the members of a tree (take, members) or the tar of a
 * layer as it is written (layerWatcher), spools the package databases among
 * them, then parses them (inventory); close removes its temp files. Every
 * byte of a database is spooled, whatever its size (a member stream's reader
 * reads it back); above the cap it is not parsed.
 */
export class PackageDatabaseTap {
  private readonly spool: Spool;
  private readonly spooled = new Map<string, Spooled>();
  private dir: string | undefined;
  private files = 0;

  constructor(parent = tmpdir()) {
    this.spool = new Spool(parent, '.rootfs-sbom');
  }

  /** Whether member is one to take (a regular file at a database path). */
  wants(member: TreeMember): boolean {
    return member.entry.type === 'file' && member.content !== undefined && databaseKind(displayPath(member.entry.path)) !== undefined;
  }

  /** Spools a wanted member's content; a later member of the same path replaces it. */
  async take(path: string, content: Readable): Promise<string> {
    await this.open();
    const sink = this.begin(path)!;
    try {
      for await (const chunk of content) sink.write(chunk as Buffer);
    } finally {
      sink.end();
    }
    return this.spooled.get(cleanPath(path))!.file;
  }

  /** members, passed on as they come; a database's content is spooled first, and its reader reads the spooled copy. */
  async *members(members: AsyncIterable<TreeMember> | Iterable<TreeMember>): AsyncGenerator<TreeMember, void, undefined> {
    for await (const member of members) {
      if (!this.wants(member)) {
        yield member;
        continue;
      }
      const file = await this.take(displayPath(member.entry.path), member.content!());
      yield { ...member, content: () => createReadStream(file), replayable: true };
    }
  }

  /** Hears a layer's tar (LayerOptions.observe) and spools the databases as they pass; call open() first. */
  layerWatcher(): TarWatcher {
    let current: MemberSink | undefined;
    return {
      // Every member of the layer passes here: latin1 is the cheapest decoding, and the database paths are ASCII.
      entry: (entry) => void (current = entry.type === 'file' ? this.begin(entry.path.toString('latin1')) : undefined),
      data: (chunk) => current?.write(chunk),
      end: () => {
        current?.end();
        current = undefined;
      },
    };
  }

  /** Makes the spool directory, so that members can be spooled synchronously. */
  async open(): Promise<void> {
    this.dir ??= dirname(await this.spool.path());
  }

  private begin(path: string): MemberSink | undefined {
    const kind = databaseKind(path);
    if (kind === undefined || this.dir === undefined) return undefined;
    const cap = kind.startsWith('rpm') ? rpmCap : textCap;
    const spooled: Spooled = { path: cleanPath(path), kind, file: join(this.dir, `database-${++this.files}`), tooLarge: false };
    let fd: number | undefined = openSync(spooled.file, 'wx', 0o600);
    let written = 0;
    return {
      write: (chunk) => {
        written += chunk.length;
        spooled.tooLarge ||= written > cap;
        for (let done = 0; done < chunk.length; ) done += writeSync(fd!, chunk, done);
      },
      end: () => {
        if (fd === undefined) return;
        closeSync(fd);
        fd = undefined;
        this.spooled.set(spooled.path, spooled);
      },
    };
  }

  /** Parses what was taken. */
  async inventory(): Promise<Inventory> {
    const inventory: Inventory = { packages: [], databases: [], warnings: [] };
    const all = [...this.spooled.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const rpm = rpmPreference.map((kind) => all.find((s) => s.kind === kind)).find((s) => s !== undefined);
    const osRelease = all.find((s) => s.path === 'etc/os-release') ?? all.find((s) => s.kind === 'os-release');
    for (const spooled of all) {
      if (spooled.kind.startsWith('rpm') && spooled !== rpm) continue;
      if (spooled.kind === 'os-release' && spooled !== osRelease) continue;
      inventory.databases.push(spooled.path);
      if (spooled.tooLarge) {
        inventory.warnings.push(`${printable(spooled.path)}: larger than ${spooled.kind.startsWith('rpm') ? rpmCap : textCap} bytes: not read`);
        continue;
      }
      try {
        if (spooled.kind === 'os-release') {
          const os = parseOsRelease((await readFile(spooled.file)).toString('utf8'));
          if (os) inventory.os = os;
        } else {
          inventory.packages.push(...(await readPackages(spooled, inventory.warnings)));
        }
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        inventory.warnings.push(detail.startsWith(`${spooled.path}:`) ? printable(detail) : `${printable(spooled.path)}: ${printable(detail)}`);
      }
    }
    inventory.packages.sort(comparePackages);
    return inventory;
  }

  async close(): Promise<void> {
    await this.spool.remove();
  }
}

async function readPackages(spooled: Spooled, warnings: string[]): Promise<InstalledPackage[]> {
  switch (spooled.kind) {
    case 'dpkg':
      return readDpkgStatus(spooled.file, true);
    case 'dpkg-part':
      return readDpkgStatus(spooled.file, false);
    case 'apk':
      return readApkInstalled(spooled.file);
    default:
      return RandomAccess.with(spooled.file, spooled.path, (file) => {
        const blobs = spooled.kind === 'rpm-sqlite' ? sqliteBlobs(file, 'Packages', 1) : spooled.kind === 'rpm-ndb' ? ndbValues(file) : bdbHashValues(file);
        const packages: InstalledPackage[] = [];
        let bad = 0;
        for (const blob of blobs) {
          // BerkeleyDB's record 0 holds rpm's next install number (4 bytes), not a header.
          if (blob.length <= 8) continue;
          try {
            packages.push(parseRpmHeader(blob));
          } catch {
            bad++;
          }
        }
        if (bad > 0) warnings.push(`${printable(spooled.path)}: ${count(bad, 'unreadable package header')} skipped`);
        return packages;
      });
  }
}

/** The inventory of a whole tree: the members not wanted pass unread. */
export async function inventoryOfTree(members: AsyncIterable<TreeMember> | Iterable<TreeMember>, parent?: string): Promise<Inventory> {
  const tap = new PackageDatabaseTap(parent);
  try {
    for await (const member of members) if (tap.wants(member)) await tap.take(displayPath(member.entry.path), member.content!());
    return await tap.inventory();
  } finally {
    await tap.close();
  }
}
