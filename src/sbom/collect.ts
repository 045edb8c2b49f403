/**
 * Which members of a tree are package databases, and what they say: the one
 * observer every SBOM source feeds (a directory walk, a tar stream, an
 * image's merged layers). The few database files are spooled to a temp
 * directory as they pass, capped in size, then parsed from there, so a
 * stream is read once and a 200 MB rpmdb is read by pages, never held whole.
 * A database that cannot be read is a warning naming it, never an error.
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { displayPath, printable } from '../errors.js';
import { Spool } from '../io/temp.js';
import type { TreeMember } from '../layers/members.js';
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

/** What kind of database a tree path (as in a tar: relative, maybe with "./") is, if any. */
export function databaseKind(path: string): DatabaseKind | undefined {
  const p = path.replace(/^(\.?\/)+/, '');
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

/** The observer: give it every member (take), then ask for the inventory; close removes its temp files. */
export class PackageDatabaseTap {
  private readonly spool: Spool;
  private readonly spooled = new Map<string, Spooled>();

  constructor(parent = tmpdir()) {
    this.spool = new Spool(parent, '.rootfs-sbom');
  }

  /** Whether member is one to take (a regular file at a database path). */
  wants(member: TreeMember): boolean {
    return member.entry.type === 'file' && member.content !== undefined && databaseKind(displayPath(member.entry.path)) !== undefined;
  }

  /** Spools a wanted member's content (read to its end whatever its size); a later member of the same path replaces it. */
  async take(path: string, content: Readable): Promise<void> {
    const kind = databaseKind(path)!;
    const clean = path.replace(/^(\.?\/)+/, '');
    const cap = kind.startsWith('rpm') ? rpmCap : textCap;
    const spooled: Spooled = { path: clean, kind, file: await this.spool.path(), tooLarge: false };
    let written = 0;
    const capped = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        written += chunk.length;
        if (written > cap) spooled.tooLarge = true;
        callback(null, spooled.tooLarge ? undefined : chunk);
      },
    });
    await pipeline(content, capped, createWriteStream(spooled.file, { mode: 0o600 }));
    this.spooled.set(clean, spooled);
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
