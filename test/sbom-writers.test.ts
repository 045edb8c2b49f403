// tier: unit
/**
 * The SPDX 2.3 and CycloneDX 1.6 writers (src/sbom/spdx.ts, cyclonedx.ts):
 * every document valid against the official schema, with what scanners
 * match on (purl, epoch:version-release, arch, license, source package, the
 * OS, the image digest as subject), and deterministic. (On a debootstrap
 * root, which needs root: test/sbom-dpkg.test.ts.)
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeSbom } from '../src/sbom/format.js';
import type { Inventory } from '../src/sbom/types.js';
import { makeTempDir } from './helpers.js';
import { alpineRoot, inventoryOf, rpmRoots } from './sbom-fixtures.js';
import { imageSubject, purlsOf, schemaErrors, writeChecked, writeOptions } from './sbom-schema.js';

test('rpm (CentOS 7): epoch:version-release, epoch as a purl qualifier, the license as the database spells it, the source rpm', async (t) => {
  const roots = await rpmRoots(t);
  if (!roots) return;
  const root = makeTempDir(t);
  cpSync(roots.bdb, root, { recursive: true });
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/os-release'), 'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n');
  const inventory = await inventoryOf(root);
  const { spdx, cyclonedx } = writeChecked(inventory, imageSubject);
  const betaPurl = 'pkg:rpm/centos/beta-tools@2.3.4-5.el7?arch=noarch&distro=centos-7&epoch=2';
  const beta = (cyclonedx.components as Array<Record<string, unknown>>).find((c) => c.name === 'beta-tools')!;
  assert.deepEqual(beta, {
    type: 'library',
    'bom-ref': betaPurl,
    name: 'beta-tools',
    version: '2:2.3.4-5.el7',
    licenses: [{ license: { name: 'GPLv2+' } }],
    purl: betaPurl,
    properties: [
      { name: 'rootfs:package:type', value: 'rpm' },
      { name: 'rootfs:package:source', value: 'beta-tools' },
    ],
  });
  const spdxBeta = (spdx.packages as Array<Record<string, unknown>>).find((p) => p.name === 'beta-tools')!;
  assert.equal(spdxBeta.versionInfo, '2:2.3.4-5.el7');
  const extracted = spdx.hasExtractedLicensingInfos as Array<{ licenseId: string; extractedText: string }>;
  assert.equal(extracted.find((l) => l.licenseId === spdxBeta.licenseDeclared)?.extractedText, 'GPLv2+');
  assert.deepEqual(extracted.map((l) => l.extractedText), ['BSD and (MIT or ISC)', 'GPLv2+', 'MIT']);
});

test('apk (Alpine) and a tree as the subject: no digest, valid documents', async (t) => {
  const root = alpineRoot(makeTempDir(t));
  const inventory = await inventoryOf(root);
  const { spdx, cyclonedx } = writeChecked(inventory, { name: 'rootfs.tar' });
  assert.deepEqual(purlsOf('cyclonedx', cyclonedx).purls, [
    'pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1&upstream=busybox',
    'pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1',
  ]);
  assert.equal((cyclonedx.metadata as { component: { type: string } }).component.type, 'file');
  assert.equal((spdx.packages as Array<{ checksums?: unknown }>)[0]!.checksums, undefined);
});

test('determinism: the serial number and namespace follow the content; an empty tree is still a valid document', () => {
  const one: Inventory = { packages: [{ kind: 'deb', name: 'a', version: '1' }], databases: [], warnings: [] };
  const two: Inventory = { packages: [{ kind: 'deb', name: 'a', version: '2' }], databases: [], warnings: [] };
  const serial = (inventory: Inventory) => (JSON.parse(writeSbom('cyclonedx', inventory, imageSubject, writeOptions).toString()) as { serialNumber: string }).serialNumber;
  const namespace = (inventory: Inventory) => (JSON.parse(writeSbom('spdx', inventory, imageSubject, writeOptions).toString()) as { documentNamespace: string }).documentNamespace;
  assert.equal(serial(one), serial({ ...one }));
  assert.notEqual(serial(one), serial(two));
  assert.notEqual(namespace(one), namespace(two));
  assert.match(serial(one), /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  writeChecked({ packages: [], databases: [], warnings: [] }, { name: 'empty' });
  // The schemas are not vacuous: they refuse what is not SPDX or CycloneDX.
  assert.notDeepEqual(schemaErrors('spdx', { spdxVersion: 'SPDX-2.3', packages: [{ name: 'x' }] }), []);
  assert.notDeepEqual(schemaErrors('cyclonedx', { bomFormat: 'CycloneDX', specVersion: '1.6', components: [{ type: 'os', name: 'x' }] }), []);
  // Names no identifier may hold, and a control character, still give valid documents.
  writeChecked({ packages: [{ kind: 'deb', name: 'a b/c\u0007', version: '1:2+3', license: 'GPL v2 (or later)' }], databases: [], warnings: [] }, imageSubject);
});
