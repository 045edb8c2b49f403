/**
 * The dpkg reader and the SBOM writers on a debootstrap root (root and
 * debootstrap, so not in the unit tier: the readers and writers themselves
 * are test/sbom-readers.test.ts and test/sbom-writers.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, runOk } from './helpers.js';
import { debootstrapRoot, inventoryOf } from './sbom-fixtures.js';
import { imageSubject, purlsOf, writeChecked } from './sbom-schema.js';

test('dpkg: a debootstrap root reads as dpkg-query lists it, the distro from os-release', async (t) => {
  const root = await debootstrapRoot(t);
  if (!root) return;
  const query = await runOk('dpkg-query', ['--admindir', join(root, 'var/lib/dpkg'), '-W', '-f', '${db:Status-Status} ${Package} ${Version} ${Architecture}\n']);
  const expected = query.stdout.toString().trim().split('\n').filter((line) => line.startsWith('installed ')).map((line) => line.slice('installed '.length)).sort();
  const inventory = await inventoryOf(root);
  assert.deepEqual(inventory.warnings, []);
  // Debian's /etc/os-release is a symlink to ../usr/lib/os-release.
  assert.deepEqual(inventory.databases, ['usr/lib/os-release', 'var/lib/dpkg/status']);
  assert.deepEqual(inventory.packages.map((p) => `${p.name} ${p.version} ${p.arch}`).sort(), expected);
  assert.ok(expected.length > 50);
  assert.deepEqual({ id: inventory.os?.id, versionId: inventory.os?.versionId }, { id: 'debian', versionId: '12' });
  // Source packages as dpkg records them ("Source: glibc (2.36-9+deb12u4)" → glibc).
  assert.equal(inventory.packages.find((p) => p.name === 'libc6')?.source, 'glibc');
});

test('dpkg: status.d/ as distroless images have it, one stanza a file, md5sums skipped', async (t) => {
  const root = await debootstrapRoot(t);
  if (!root) return;
  const work = makeTempDir(t);
  const parts = join(work, 'var/lib/dpkg/status.d');
  mkdirSync(parts, { recursive: true });
  const status = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8');
  const stanzas = status.split('\n\n').filter((s) => /^Package: (base-files|libc6|tzdata)$/m.test(s));
  assert.equal(stanzas.length, 3);
  for (const stanza of stanzas) {
    const name = /^Package: (.*)$/m.exec(stanza)![1]!;
    // distroless writes no Status field.
    writeFileSync(join(parts, name), `${stanza.replace(/^Status: .*\n/m, '')}\n`);
    writeFileSync(join(parts, `${name}.md5sums`), 'd41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x\n');
  }
  const inventory = await inventoryOf(work);
  assert.deepEqual(inventory.warnings, []);
  assert.deepEqual(inventory.packages.map((p) => p.name), ['base-files', 'libc6', 'tzdata']);
});

test('a debootstrap root: valid SPDX 2.3 and CycloneDX 1.6, deb purls with distro and upstream, Debian as the OS', async (t) => {
  const root = await debootstrapRoot(t);
  if (!root) return;
  const inventory = await inventoryOf(root);
  const { spdx, cyclonedx } = writeChecked(inventory, imageSubject);
  const libc = inventory.packages.find((p) => p.name === 'libc6')!;
  const libcPurl = `pkg:deb/debian/libc6@${encodeURIComponent(libc.version)}?arch=amd64&distro=debian-12&upstream=glibc`;
  for (const [format, document] of [['spdx', spdx], ['cyclonedx', cyclonedx]] as const) {
    const { purls } = purlsOf(format, document);
    assert.ok(purls.includes(libcPurl), `${format}: ${libcPurl}`);
    // Each installed package once, and the image itself.
    assert.equal(purls.filter((p) => p.startsWith('pkg:deb/')).length, inventory.packages.length, format);
  }
  // The subject: the image by its digest.
  assert.deepEqual(spdx.documentDescribes, ['SPDXRef-Subject']);
  const subject = (spdx.packages as Array<Record<string, unknown>>)[0]!;
  assert.deepEqual(subject.checksums, [{ algorithm: 'SHA256', checksumValue: 'ab'.repeat(32) }]);
  assert.equal(subject.primaryPackagePurpose, 'CONTAINER');
  const os = (spdx.packages as Array<Record<string, unknown>>).find((p) => p.primaryPackagePurpose === 'OPERATING_SYSTEM');
  assert.deepEqual([os?.name, os?.versionInfo], ['debian', '12']);
  const metadata = cyclonedx.metadata as { component: Record<string, unknown>; timestamp: string };
  assert.deepEqual([metadata.component.type, metadata.component.version, metadata.timestamp], ['container', imageSubject.digest, '2024-01-02T03:04:05Z']);
  assert.equal(spdx.creationInfo && (spdx.creationInfo as { created: string }).created, '2024-01-02T03:04:05Z');
  const osComponent = (cyclonedx.components as Array<Record<string, unknown>>)[0]!;
  assert.deepEqual([osComponent.type, osComponent.name, osComponent.version], ['operating-system', 'debian', '12']);
});
