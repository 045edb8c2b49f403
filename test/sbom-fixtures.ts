/**
 * Package databases made here, offline, for the sbom suites: a debootstrap
 * root (dpkg), rpm databases in all three containers (made by Debian's rpm
 * from packages built with rpmbuild, then converted by
 * test/fixtures/rpmdb-convert.py), an apk database written by hand. Each is
 * built once per machine in the temp dir.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { directoryMembers } from '../src/pack/members.js';
import { openRoot, TreeWalk } from '../src/pack/tree.js';
import { inventoryOfTree } from '../src/sbom/collect.js';
import type { Inventory } from '../src/sbom/types.js';
import { projectRoot, requireRoot, requireTools, runOk, skipLoudly } from './helpers.js';

/** What the readers find in the tree at root, walked as pack walks it. */
export const inventoryOf = (root: string): Promise<Inventory> => inventoryOfTree(directoryMembers(new TreeWalk(openRoot(root), {})));

/** The debootstrap bookworm minbase root the incremental suite also uses (about 25 s to build the first time). */
export async function debootstrapRoot(t: TestContext): Promise<string | undefined> {
  if (!requireRoot(t) || !requireTools(t, 'debootstrap')) return undefined;
  const dir = join(tmpdir(), 'rootfs-test-incremental-bookworm');
  if (!existsSync(join(dir, 'etc/os-release'))) {
    rmSync(`${dir}.tmp`, { recursive: true, force: true });
    await runOk('debootstrap', ['--variant=minbase', 'bookworm', `${dir}.tmp`]);
    renameSync(`${dir}.tmp`, dir);
  }
  return dir;
}

export interface RpmRoots {
  /** Roots holding the same packages: var/lib/rpm/rpmdb.sqlite, var/lib/rpm/Packages (BerkeleyDB), usr/lib/sysimage/rpm/Packages.db (NDB). */
  sqlite: string;
  bdb: string;
  ndb: string;
  /** `rpm -qa` of the SQLite database: NAME EPOCHNUM:VERSION-RELEASE ARCH, sorted. */
  nevras: string[];
}

/** Three packages: one with an epoch and an EL-style release, licenses as rpm spells them. */
const rpmPackages = [
  { name: 'alpha', version: '1.0', release: '1', license: 'MIT' },
  { name: 'beta-tools', version: '2.3.4', release: '5.el7', epoch: 2, license: 'GPLv2+' },
  { name: 'gamma', version: '0.1', release: '1', license: 'BSD and (MIT or ISC)' },
];

export async function rpmRoots(t: TestContext): Promise<RpmRoots | undefined> {
  if (!requireTools(t, 'rpm', 'rpmbuild', '/usr/bin/python3') || !(await haveBsddb3(t))) return undefined;
  const dir = join(tmpdir(), 'rootfs-test-sbom-rpm');
  const roots = { sqlite: join(dir, 'sqlite'), bdb: join(dir, 'bdb'), ndb: join(dir, 'ndb') };
  if (!existsSync(join(dir, 'done'))) {
    rmSync(dir, { recursive: true, force: true });
    const top = join(dir, 'build');
    mkdirSync(join(top, 'SPECS'), { recursive: true });
    for (const p of rpmPackages) {
      const spec = join(top, 'SPECS', `${p.name}.spec`);
      writeFileSync(spec, [`Name: ${p.name}`, `Version: ${p.version}`, `Release: ${p.release}`, ...(p.epoch ? [`Epoch: ${p.epoch}`] : []), `Summary: ${p.name}`, `License: ${p.license}`, 'BuildArch: noarch', '%description', 'A test package.', '%files', ''].join('\n'));
      await runOk('rpmbuild', ['--define', `_topdir ${top}`, '-bb', spec]);
    }
    const db = ['--root', roots.sqlite, '--dbpath', '/var/lib/rpm'];
    await runOk('rpm', [...db, '--initdb']);
    const built = rpmPackages.map((p) => join(top, 'RPMS/noarch', `${p.name}-${p.version}-${p.release}.noarch.rpm`));
    await runOk('rpm', [...db, '-i', '--justdb', '--nodeps', ...built]);
    const sqlite = join(roots.sqlite, 'var/lib/rpm/rpmdb.sqlite');
    mkdirSync(join(roots.bdb, 'var/lib/rpm'), { recursive: true });
    mkdirSync(join(roots.ndb, 'usr/lib/sysimage/rpm'), { recursive: true });
    const convert = join(projectRoot, 'test/fixtures/rpmdb-convert.py');
    await runOk('/usr/bin/python3', [convert, 'bdb', sqlite, join(roots.bdb, 'var/lib/rpm/Packages')]);
    await runOk('/usr/bin/python3', [convert, 'ndb', sqlite, join(roots.ndb, 'usr/lib/sysimage/rpm/Packages.db')]);
    writeFileSync(join(dir, 'done'), '');
  }
  return { ...roots, nevras: await rpmQueryAll(join(roots.sqlite, 'var/lib/rpm')) };
}

/** `rpm -qa` of a database directory, in the shape the tests compare: NAME EPOCHNUM:VERSION-RELEASE ARCH. */
export async function rpmQueryAll(dbpath: string, backend?: string): Promise<string[]> {
  const args = [...(backend ? ['--define', `_db_backend ${backend}`] : []), '--dbpath', dbpath, '-qa', '--qf', '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{ARCH}\n'];
  return (await runOk('rpm', args)).stdout.toString().trim().split('\n').sort();
}

async function haveBsddb3(t: TestContext): Promise<boolean> {
  try {
    await runOk('/usr/bin/python3', ['-c', 'import bsddb3']);
    return true;
  } catch {
    skipLoudly(t, 'SKIPPED: python3-bsddb3 not installed (install it as .ci/run does)');
    return false;
  }
}

/** An apk database as Alpine writes /lib/apk/db/installed (file lists and checksums included, which the reader skips). */
export const apkInstalled = [
  'C:Q1abc=',
  'P:musl',
  'V:1.2.4_git20230717-r4',
  'A:x86_64',
  'S:383152',
  'I:622592',
  'T:the musl c library (libc) implementation',
  'U:https://musl.libc.org/',
  'L:MIT',
  'o:musl',
  'm:Timo Teräs <timo.teras@iki.fi>',
  't:1705934231',
  'c:cb3b3ae1a5f4fa0ae7a5f1b0e7b2f4c2a6a9d5e7',
  'F:lib',
  'R:ld-musl-x86_64.so.1',
  'a:0:0:755',
  'Z:Q1xyz=',
  '',
  'P:busybox-binsh',
  'V:1.36.1-r15',
  'A:x86_64',
  'L:GPL-2.0-only',
  'o:busybox',
  'F:bin',
  'R:sh',
  '',
].join('\n');

export const alpineOsRelease = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n';

/** An Alpine root holding just its package database and os-release. */
export function alpineRoot(dir: string, installed = apkInstalled): string {
  mkdirSync(join(dir, 'lib/apk/db'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, 'lib/apk/db/installed'), installed);
  writeFileSync(join(dir, 'etc/os-release'), alpineOsRelease);
  return dir;
}
