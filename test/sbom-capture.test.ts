/**
 * The SBOM made at capture: import (a directory, a tar stream, --base) and
 * commit attach one with --sbom, read from the tree as it streams into the
 * layer (the layer's bytes are the same without it); without it, none; a
 * corrupt database is a warning (exit 1) and the image is still made; the
 * spool is removed.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, rootfs, type RunOptions } from './helpers.js';
import { rpmRoots } from './sbom-fixtures.js';

interface Entry {
  digest: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

test('import DIR, pack | import -, import --base and commit --sbom attach an SBOM of the whole tree; without --sbom none; the layer is the same', async (t) => {
  const roots = await rpmRoots(t);
  if (!roots) return;
  const work = makeTempDir(t, 'rootfs-sbom-capture-');
  const tmp = join(work, 'tmp');
  mkdirSync(tmp);
  const store = join(work, 'store');
  const opts: RunOptions = { env: { ...process.env, TMPDIR: tmp, SOURCE_DATE_EPOCH: '1700000000' } };
  const r = (args: string[], input?: RunOptions) => rootfs(['--store', store, ...args], { ...opts, ...input });
  const ok = async (args: string[]): Promise<string> => {
    const result = await r(args);
    assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
    return result.stderr;
  };
  const root = join(work, 'root');
  cpSync(roots.bdb, root, { recursive: true });
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/os-release'), 'ID=centos\nVERSION_ID=7\n');
  const index = () => (JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as { manifests: Entry[] }).manifests;
  const manifestOf = async (ref: string) => ((JSON.parse((await r(['inspect', ref])).stdout.toString()) as Array<{ Descriptor: { digest: string } }>)[0]!.Descriptor.digest);

  assert.match(await ok(['import', root, 'c:dir', '--sbom']), /^SBOM: 3 packages from etc\/os-release, var\/lib\/rpm\/Packages, attached \(referrer sha256:[0-9a-f]{64}\)$/m);
  const tar = join(work, 'root.tar');
  await ok(['pack', root, '-o', tar]);
  assert.match(await ok(['import', tar, 'c:tar', '--sbom']), /^SBOM: 3 packages/m);
  assert.doesNotMatch(await ok(['import', tar, 'c:plain', '-m', 'another config, so another manifest']), /SBOM/);
  // The tap only watches: the same layer with and without it.
  const layers = async (ref: string) => JSON.stringify((JSON.parse((await r(['inspect', ref])).stdout.toString()) as Array<{ Manifest: { layers: unknown } }>)[0]!.Manifest.layers);
  assert.equal(await layers('c:tar'), await layers('c:plain'));
  assert.equal(await layers('c:dir'), await layers('c:plain'));

  // The delta's layer holds only the changed rpmdb; the SBOM is of the whole tree.
  rmSync(join(root, 'var/lib/rpm/Packages'));
  cpSync(join(roots.sqlite, 'var/lib/rpm/rpmdb.sqlite'), join(root, 'var/lib/rpm/rpmdb.sqlite'));
  assert.match(await ok(['import', root, 'c:base', '--base', 'c:dir', '--sbom']), /^SBOM: 3 packages from etc\/os-release, var\/lib\/rpm\/rpmdb\.sqlite, attached/m);
  writeFileSync(join(root, 'etc/motd'), 'hello\n');
  assert.match(await ok(['commit', root, 'c:commit', '--base', 'c:base', '--sbom']), /^SBOM: 3 packages from etc\/os-release, var\/lib\/rpm\/rpmdb\.sqlite, attached/m);
  await ok(['commit', root, 'c:none', '--base', 'c:base', '-m', 'another manifest']);

  const subjects = new Set(index().filter((e) => e.artifactType === 'application/spdx+json').map((e) => e.annotations?.['io.rootfs.subject']));
  for (const ref of ['c:dir', 'c:tar', 'c:base', 'c:commit']) assert.ok(subjects.has(await manifestOf(ref)), `${ref} has an SBOM`);
  for (const ref of ['c:plain', 'c:none']) assert.ok(!subjects.has(await manifestOf(ref)), `${ref} has none`);
  // What sbom prints is the attached one.
  const printed = await r(['sbom', 'c:commit']);
  assert.match(printed.stderr, /the SBOM attached/);
  const document = JSON.parse(printed.stdout.toString()) as { packages: Array<{ name: string; versionInfo?: string }>; creationInfo: { created: string } };
  assert.equal(document.packages.find((p) => p.name === 'beta-tools')?.versionInfo, '2:2.3.4-5.el7');
  assert.equal(document.creationInfo.created, '2023-11-14T22:13:20Z');
  assert.deepEqual(readdirSync(tmp), []);
});

test('a corrupt package database at capture: a warning naming it, exit 1, the image made and tagged with its SBOM', async (t) => {
  const work = makeTempDir(t, 'rootfs-sbom-capture-');
  const store = join(work, 'store');
  const root = join(work, 'root');
  mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
  mkdirSync(join(root, 'var/lib/rpm'), { recursive: true });
  writeFileSync(join(root, 'var/lib/dpkg/status'), 'Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n');
  writeFileSync(join(root, 'var/lib/rpm/Packages'), Buffer.alloc(4096, 0x61));
  const result = await rootfs(['--store', store, 'import', root, 'bad:1', '--sbom']);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /^rootfs: warning: var\/lib\/rpm\/Packages: not a BerkeleyDB hash database$/m);
  assert.match(result.stderr, /^SBOM: 1 package from var\/lib\/dpkg\/status, var\/lib\/rpm\/Packages, attached/m);
  assert.equal((await rootfs(['--store', store, 'sbom', 'bad:1'])).code, 0);
});
