// tier: unit
/**
 * The package-database readers (src/sbom/) on real databases made here
 * offline (test/sbom-fixtures.ts), compared with the package managers' own
 * queries; and on corrupt and hostile ones, which must give a warning naming
 * the file, never an error. (dpkg on a debootstrap root, which needs
 * root: test/sbom-dpkg.test.ts.)
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseOsRelease } from '../src/sbom/os-release.js';
import type { Inventory } from '../src/sbom/types.js';
import { makeTempDir, projectRoot, runOk } from './helpers.js';
import { alpineRoot, inventoryOf, rpmQueryAll, rpmRoots } from './sbom-fixtures.js';

const nevra = (p: Inventory['packages'][number]) => `${p.name} ${p.epoch ?? 0}:${p.version.replace(/^\d+:/, '')} ${p.arch}`;

test('rpm: SQLite, BerkeleyDB and NDB databases read as rpm -qa lists them', async (t) => {
  const roots = await rpmRoots(t);
  if (!roots) return;
  // rpm 4.18 reads the BerkeleyDB hash we wrote with its read-only backend: the file is what rpm 4.11 wrote.
  assert.deepEqual(await rpmQueryAll(join(roots.bdb, 'var/lib/rpm'), 'bdb_ro'), roots.nevras);
  for (const [kind, root, database] of [
    ['sqlite', roots.sqlite, 'var/lib/rpm/rpmdb.sqlite'],
    ['bdb', roots.bdb, 'var/lib/rpm/Packages'],
    ['ndb', roots.ndb, 'usr/lib/sysimage/rpm/Packages.db'],
  ] as const) {
    const inventory = await inventoryOf(root);
    assert.deepEqual(inventory.warnings, [], kind);
    assert.deepEqual(inventory.databases, [database], kind);
    assert.deepEqual(inventory.packages.map(nevra).sort(), roots.nevras, kind);
    const beta = inventory.packages.find((p) => p.name === 'beta-tools');
    assert.deepEqual(beta, { kind: 'rpm', name: 'beta-tools', version: '2:2.3.4-5.el7', epoch: 2, arch: 'noarch', license: 'GPLv2+', source: 'beta-tools' }, kind);
  }
});

test('rpm: a 200 MB rpmdb.sqlite is read by pages, not held in memory', async (t) => {
  const roots = await rpmRoots(t);
  if (!roots) return;
  const root = makeTempDir(t);
  mkdirSync(join(root, 'var/lib/rpm'), { recursive: true });
  await runOk('/usr/bin/python3', [join(projectRoot, 'test/fixtures/rpmdb-convert.py'), 'big', join(roots.sqlite, 'var/lib/rpm/rpmdb.sqlite'), join(root, 'var/lib/rpm/rpmdb.sqlite'), '200']);
  const script = `
    import { inventoryOfTree } from ${JSON.stringify(join(projectRoot, 'dist/src/sbom/collect.js'))};
    import { directoryMembers } from ${JSON.stringify(join(projectRoot, 'dist/src/pack/members.js'))};
    import { openRoot, TreeWalk } from ${JSON.stringify(join(projectRoot, 'dist/src/pack/tree.js'))};
    const inventory = await inventoryOfTree(directoryMembers(new TreeWalk(openRoot(${JSON.stringify(root)}), {})));
    console.log(JSON.stringify({ packages: inventory.packages.length, warnings: inventory.warnings, maxRss: process.resourceUsage().maxRSS * 1024 }));`;
  const result = JSON.parse((await runOk(process.execPath, ['--input-type=module', '-e', script])).stdout.toString()) as { packages: number; warnings: string[]; maxRss: number };
  assert.deepEqual(result.warnings, []);
  assert.equal(result.packages, 2000);
  assert.ok(result.maxRss < 150e6, `peak RSS ${result.maxRss} bytes for a 200 MB database`);
});

test('apk: the installed database, with license and origin', async (t) => {
  const root = alpineRoot(makeTempDir(t));
  const inventory = await inventoryOf(root);
  assert.deepEqual(inventory.warnings, []);
  assert.deepEqual(inventory.packages, [
    { kind: 'apk', name: 'busybox-binsh', version: '1.36.1-r15', arch: 'x86_64', license: 'GPL-2.0-only', source: 'busybox' },
    { kind: 'apk', name: 'musl', version: '1.2.4_git20230717-r4', arch: 'x86_64', license: 'MIT', source: 'musl' },
  ]);
  assert.deepEqual(inventory.os, { id: 'alpine', versionId: '3.19.1', name: 'Alpine Linux', prettyName: 'Alpine Linux v3.19' });
});

test('os-release: shell quoting, comments, a missing ID', () => {
  assert.deepEqual(parseOsRelease('# c\nID="centos"\nVERSION_ID=\'7\'\nPRETTY_NAME="CentOS \\"Linux\\" 7"\n'), { id: 'centos', versionId: '7', prettyName: 'CentOS "Linux" 7' });
  assert.deepEqual(parseOsRelease('NAME=Linux\n'), { id: 'linux', name: 'Linux' });
  assert.equal(parseOsRelease('garbage\n'), undefined);
});

test('corrupt and hostile databases are warnings naming the file, never errors', async (t) => {
  const roots = await rpmRoots(t);
  if (!roots) return;
  const sqlite = readFileSync(join(roots.sqlite, 'var/lib/rpm/rpmdb.sqlite'));
  const bdb = readFileSync(join(roots.bdb, 'var/lib/rpm/Packages'));
  const ndb = readFileSync(join(roots.ndb, 'usr/lib/sysimage/rpm/Packages.db'));
  const pageSize = sqlite.readUInt16BE(16);
  // Every interior/leaf page of the SQLite file pointing at page 1: a loop. (Page 1's right pointer is at 100 + 8.)
  const looped = Buffer.from(sqlite);
  for (let at = pageSize; at < looped.length; at += pageSize) if (looped[at] === 5) looped.writeUInt32BE(1, at + 8);
  looped[100] = 5;
  looped.writeUInt32BE(1, 108);
  // BerkeleyDB overflow pages that hold 10 bytes each and name themselves as the next.
  const bdbLoop = Buffer.from(bdb);
  const bdbPage = bdb.readUInt32LE(20);
  for (let at = bdbPage; at < bdbLoop.length; at += bdbPage) {
    if (bdbLoop[at + 25] !== 7) continue;
    bdbLoop.writeUInt32LE(at / bdbPage, at + 16);
    bdbLoop.writeUInt16LE(10, at + 22);
  }
  const cases: Array<[string, Buffer | string]> = [
    ['var/lib/rpm/rpmdb.sqlite', sqlite.subarray(0, 3000)],
    ['var/lib/rpm/rpmdb.sqlite', looped],
    ['var/lib/rpm/rpmdb.sqlite', Buffer.alloc(8192)],
    ['var/lib/rpm/Packages', bdbLoop],
    ['var/lib/rpm/Packages', bdb.subarray(0, bdbPage + 100)],
    ['usr/lib/sysimage/rpm/Packages.db', Buffer.concat([ndb.subarray(0, 4096), Buffer.from('BlbS')])],
    ['usr/lib/sysimage/rpm/Packages.db', Buffer.alloc(4096, 0xff)],
  ];
  for (const [path, bytes] of cases) {
    const root = makeTempDir(t);
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), bytes);
    const inventory = await inventoryOf(root);
    assert.equal(inventory.warnings.length, 1, `${path}: ${inventory.warnings.join('; ')}`);
    assert.match(inventory.warnings[0]!, new RegExp(`^${path.replace(/\./g, '\\.')}: `));
  }
  // A header that lies about its sizes is skipped, the others read: one warning, the rest of the packages.
  const root = makeTempDir(t);
  cpSync(roots.ndb, root, { recursive: true });
  const file = join(root, 'usr/lib/sysimage/rpm/Packages.db');
  const bytes = readFileSync(file);
  const firstBlob = bytes.indexOf('BlbS');
  bytes.writeUInt32BE(0xffff, firstBlob + 16);
  writeFileSync(file, bytes);
  const inventory = await inventoryOf(root);
  assert.deepEqual(inventory.warnings, ['usr/lib/sysimage/rpm/Packages.db: 1 unreadable package header skipped']);
  assert.equal(inventory.packages.length, roots.nevras.length - 1);
});

test('text databases: a 10 MB status file reads; binary garbage is no package', async (t) => {
  const root = makeTempDir(t);
  mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
  mkdirSync(join(root, 'lib/apk/db'), { recursive: true });
  const stanza = (i: number) => `Package: p${i}\nStatus: install ok installed\nVersion: 1.${i}\nArchitecture: amd64\nDescription: x\n ${'y'.repeat(200)}\n`;
  const status: string[] = [];
  for (let i = 0, size = 0; size < 10e6; i++) size += status[status.push(stanza(i)) - 1]!.length + 1;
  writeFileSync(join(root, 'var/lib/dpkg/status'), status.join('\n'));
  writeFileSync(join(root, 'lib/apk/db/installed'), Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 256)));
  const inventory = await inventoryOf(root);
  assert.deepEqual(inventory.warnings, []);
  assert.equal(inventory.packages.length, status.length);
});
