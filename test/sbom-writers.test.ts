/**
 * The SPDX 2.3 and CycloneDX 1.6 writers (src/sbom/spdx.ts, cyclonedx.ts):
 * every document valid against the official schema, with what scanners
 * match on (purl, epoch:version-release, arch, license, source package, the
 * OS, the image digest as subject), and deterministic.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { directoryMembers } from '../src/pack/members.js';
import { openRoot, TreeWalk } from '../src/pack/tree.js';
import { inventoryOfTree } from '../src/sbom/collect.js';
import { sbomFormats, writeSbom, type SbomFormat } from '../src/sbom/format.js';
import type { Inventory } from '../src/sbom/types.js';
import { makeTempDir } from './helpers.js';
import { alpineRoot, debootstrapRoot, rpmRoots } from './sbom-fixtures.js';
import { schemaErrors } from './sbom-schema.js';

const formats = Object.keys(sbomFormats) as SbomFormat[];
const options = { created: new Date('2024-01-02T03:04:05Z'), toolVersion: '0.1.0' };
const image = { name: 'host:v1', digest: `sha256:${'ab'.repeat(32)}` };

interface Purls {
  purls: string[];
}

/** Every purl a document names, whichever the format. */
function purlsOf(format: SbomFormat, document: Record<string, unknown>): Purls {
  if (format === 'spdx') {
    const packages = document.packages as Array<{ externalRefs?: Array<{ referenceLocator: string }> }>;
    return { purls: packages.flatMap((p) => (p.externalRefs ?? []).map((r) => r.referenceLocator)) };
  }
  const components = document.components as Array<{ purl?: string }>;
  return { purls: components.flatMap((c) => (c.purl ? [c.purl] : [])) };
}

function check(inventory: Inventory, subject: { name: string; digest?: string }): Record<SbomFormat, Record<string, unknown>> {
  const documents = {} as Record<SbomFormat, Record<string, unknown>>;
  for (const format of formats) {
    const bytes = writeSbom(format, inventory, subject, options);
    const document = JSON.parse(bytes.toString()) as Record<string, unknown>;
    assert.deepEqual(schemaErrors(format, document), [], format);
    // Deterministic: the same inventory, the same bytes.
    assert.ok(writeSbom(format, inventory, subject, options).equals(bytes), format);
    documents[format] = document;
  }
  return documents;
}

test('a debootstrap root: valid SPDX 2.3 and CycloneDX 1.6, deb purls with distro and upstream, Debian as the OS', async (t) => {
  const root = await debootstrapRoot(t);
  if (!root) return;
  const inventory = await inventoryOfTree(directoryMembers(new TreeWalk(openRoot(root), {})));
  const { spdx, cyclonedx } = check(inventory, image);
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
  assert.deepEqual([metadata.component.type, metadata.component.version, metadata.timestamp], ['container', image.digest, '2024-01-02T03:04:05Z']);
  assert.equal(spdx.creationInfo && (spdx.creationInfo as { created: string }).created, '2024-01-02T03:04:05Z');
  const osComponent = (cyclonedx.components as Array<Record<string, unknown>>)[0]!;
  assert.deepEqual([osComponent.type, osComponent.name, osComponent.version], ['operating-system', 'debian', '12']);
});

test('rpm (CentOS 7): epoch:version-release, epoch as a purl qualifier, the license as the database spells it, the source rpm', async (t) => {
  const roots = await rpmRoots(t);
  if (!roots) return;
  const root = makeTempDir(t);
  cpSync(roots.bdb, root, { recursive: true });
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/os-release'), 'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n');
  const inventory = await inventoryOfTree(directoryMembers(new TreeWalk(openRoot(root), {})));
  const { spdx, cyclonedx } = check(inventory, image);
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
  const inventory = await inventoryOfTree(directoryMembers(new TreeWalk(openRoot(root), {})));
  const { spdx, cyclonedx } = check(inventory, { name: 'rootfs.tar' });
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
  const serial = (inventory: Inventory) => (JSON.parse(writeSbom('cyclonedx', inventory, image, options).toString()) as { serialNumber: string }).serialNumber;
  const namespace = (inventory: Inventory) => (JSON.parse(writeSbom('spdx', inventory, image, options).toString()) as { documentNamespace: string }).documentNamespace;
  assert.equal(serial(one), serial({ ...one }));
  assert.notEqual(serial(one), serial(two));
  assert.notEqual(namespace(one), namespace(two));
  assert.match(serial(one), /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  check({ packages: [], databases: [], warnings: [] }, { name: 'empty' });
  // The schemas are not vacuous: they refuse what is not SPDX or CycloneDX.
  assert.notDeepEqual(schemaErrors('spdx', { spdxVersion: 'SPDX-2.3', packages: [{ name: 'x' }] }), []);
  assert.notDeepEqual(schemaErrors('cyclonedx', { bomFormat: 'CycloneDX', specVersion: '1.6', components: [{ type: 'os', name: 'x' }] }), []);
  // Names no identifier may hold, and a control character, still give valid documents.
  check({ packages: [{ kind: 'deb', name: 'a b/c\u0007', version: '1:2+3', license: 'GPL v2 (or later)' }], databases: [], warnings: [] }, image);
});
