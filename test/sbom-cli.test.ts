/**
 * `rootfs sbom`: an image (made from its layers, or the one attached), a
 * directory, a tarball; `--attach`; what it refuses; a corrupt database as a
 * warning and exit 1, the document still written.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { makeTempDir, rootfs, type RunOptions } from './helpers.js';
import { alpineRoot, rpmRoots } from './sbom-fixtures.js';
import { schemaErrors } from './sbom-schema.js';
import { describeTree } from './tree.js';

interface Cli {
  work: string;
  store: string;
  r: (args: string[], opts?: RunOptions) => ReturnType<typeof rootfs>;
  ok: (args: string[], opts?: RunOptions) => Promise<string>;
}

function cli(t: TestContext): Cli {
  const work = makeTempDir(t, 'rootfs-sbom-');
  const store = join(work, 'store');
  const r = (args: string[], opts?: RunOptions) => rootfs(['--store', store, ...args], opts);
  const ok = async (args: string[], opts?: RunOptions): Promise<string> => {
    const result = await r(args, opts);
    assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
    return result.stdout.toString();
  };
  return { work, store, r, ok };
}

const purls = (document: { components: Array<{ purl?: string }> }) => document.components.flatMap((c) => (c.purl ? [c.purl] : []));
const env = { env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } };

test('sbom DIR and sbom TAR of the same tree list the same packages; valid documents on stdout or -o', async (t) => {
  const c = cli(t);
  const root = alpineRoot(join(c.work, 'root'));
  const tar = join(c.work, 'root.tar');
  await c.ok(['pack', root, '-o', tar]);
  const fromDir = JSON.parse(await c.ok(['sbom', root, '--format', 'cyclonedx'], env)) as { components: Array<{ purl?: string }> };
  await c.ok(['sbom', tar, '--format', 'cyclonedx', '-o', join(c.work, 'out.json')], env);
  const fromTar = JSON.parse(readFileSync(join(c.work, 'out.json'), 'utf8')) as { components: Array<{ purl?: string }> };
  assert.deepEqual(schemaErrors('cyclonedx', fromDir), []);
  assert.deepEqual(purls(fromTar), purls(fromDir));
  assert.equal(purls(fromDir).length, 2);
  const spdx = JSON.parse(await c.ok(['sbom', root], env)) as { spdxVersion: string; creationInfo: { created: string } };
  assert.deepEqual(schemaErrors('spdx', spdx), []);
  assert.equal(spdx.creationInfo.created, '2023-11-14T22:13:20Z');
});

test('sbom IMAGE: made from its layers, deterministic, the store unchanged; --attach records a referrer that sbom then prints', async (t) => {
  const roots = await rpmRoots(t);
  if (!roots) return;
  const c = cli(t);
  const root = join(c.work, 'root');
  cpSync(roots.bdb, root, { recursive: true });
  // No SBOM made at capture (that is --sbom, test/sbom-capture.test.ts), so the first ones are made from the layers.
  await c.ok(['import', root, 'centos:7', '-q'], env);
  const before = describeTree(c.store);
  const made = await c.r(['sbom', 'centos:7', '--format', 'cyclonedx'], env);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stderr, /centos:7: cyclonedx, 3 packages from var\/lib\/rpm\/Packages/);
  const again = await c.ok(['sbom', 'centos:7', '--format', 'cyclonedx'], env);
  assert.equal(again, made.stdout.toString());
  const document = JSON.parse(again) as { components: Array<{ purl?: string; version?: string }>; metadata: { component: { version: string } } };
  assert.deepEqual(schemaErrors('cyclonedx', document), []);
  assert.deepEqual(document.components.map((p) => p.version).sort(), ['0.1-1', '1.0-1', '2:2.3.4-5.el7']);
  assert.deepEqual(describeTree(c.store), before);
  // The subject is the image's manifest.
  const inspect = JSON.parse(await c.ok(['inspect', 'centos:7'])) as Array<{ Descriptor?: { digest: string }; Digest?: string }>;
  assert.ok(JSON.stringify(inspect).includes(document.metadata.component.version));

  const attached = await c.r(['sbom', 'centos:7', '--attach', '-o', join(c.work, 'attached.json')], env);
  assert.equal(attached.code, 0, attached.stderr);
  assert.match(attached.stdout.toString(), /^centos:7: attached spdx SBOM of 3 packages from var\/lib\/rpm\/Packages \(referrer sha256:[0-9a-f]{64}\)\n$/);
  const index = JSON.parse(readFileSync(join(c.store, 'index.json'), 'utf8')) as { manifests: Array<{ artifactType?: string }> };
  assert.equal(index.manifests.filter((m) => m.artifactType === 'application/spdx+json').length, 1);
  // Now printed as attached, byte for byte, whatever the time.
  const printed = await c.r(['sbom', 'centos:7']);
  assert.equal(printed.stdout.toString(), readFileSync(join(c.work, 'attached.json'), 'utf8'));
  assert.match(printed.stderr, /centos:7: spdx, the SBOM attached \(referrer sha256:/);
  // Another format is made, not the attached one converted.
  assert.match((await c.r(['sbom', 'centos:7', '--format', 'cyclonedx'])).stderr, /cyclonedx, 3 packages/);
  // Images stays a list of images: the referrer is not one.
  assert.doesNotMatch(await c.ok(['images']), /<none>/);
});

test('sbom refuses what it cannot apply (exit 2), a missing image is exit 4', async (t) => {
  const c = cli(t);
  const root = alpineRoot(join(c.work, 'root'));
  await c.ok(['import', root, 'alp:1', '-q']);
  const cases: Array<[string[], number, RegExp]> = [
    [['sbom', root, '--format', 'xml'], 2, /--format must be one of spdx, cyclonedx, not 'xml'/],
    [['sbom', root, '--attach'], 2, /--attach needs an image in the store/],
    [['sbom', 'alp:1', '--preset', 'centos'], 2, /--preset and --exclude apply to a directory/],
    [['sbom', 'nothing:here'], 4, /nothing:here/],
  ];
  for (const [args, code, message] of cases) {
    const result = await c.r(args);
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  }
});

test('a corrupt database: a warning naming it, exit 1, the document written with the rest', async (t) => {
  const c = cli(t);
  const root = alpineRoot(join(c.work, 'root'));
  mkdirSync(join(root, 'var/lib/rpm'), { recursive: true });
  writeFileSync(join(root, 'var/lib/rpm/rpmdb.sqlite'), Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(200, 0xff)]));
  const result = await c.r(['sbom', root, '--format', 'cyclonedx']);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /^rootfs: warning: var\/lib\/rpm\/rpmdb\.sqlite: /m);
  const document = JSON.parse(result.stdout.toString()) as { components: Array<{ purl?: string }> };
  assert.equal(purls(document).length, 2);
});
