/**
 * A small corpus of hostile local inputs, each made on the fly: every one
 * must end in ONE line on stderr with its documented exit code, no stack
 * trace, nothing raw from the input on the terminal, and the store exactly
 * as it was (hashed before and after).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { documentCaps } from '../src/io/metadata.js';
import { encodeHeader } from '../src/tar/header.js';
import { makeTempDir, projectRoot, requireRoot, rootfs, run, type RunResult } from './helpers.js';
import { dockerClassicMembers, layerOfTar, makeImage, ociMembers, snapshot, tarOf, writeMembers, type TarMember } from './fixtures.js';

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** A docker save archive of one image over one uncompressed layer. */
function dockerArchive(layer: Buffer, repoTags: string[]): Buffer {
  return tarOf(dockerClassicMembers([{ image: makeImage([layerOfTar(layer)]), tags: repoTags }]));
}

/** An OCI layout directory of one image named x:1; `edit` may change its index before it is written. */
function ociLayout(dir: string, layer: Buffer, edit: (index: any) => void = () => {}): { blobs: string; layerHex: string } {
  const image = makeImage([layerOfTar(layer)]);
  const members = ociMembers([{ descriptor: image.manifestDescriptor, refName: 'x:1' }], [image]).map((member) => {
    if (member.path !== 'index.json') return member;
    const index = JSON.parse(String(member.body));
    edit(index);
    return { ...member, body: JSON.stringify(index) };
  });
  writeMembers(dir, members);
  return { blobs: join(dir, 'blobs', 'sha256'), layerHex: image.layers[0]!.descriptor.digest.slice(7) };
}

const goodLayer = tarOf([{ path: 'etc', type: 'directory', mode: 0o755 }, { path: 'etc/hostname', body: 'box\n' }]);

interface Fixture {
  dir: string;
  store: string;
  /** Runs rootfs on the store, checks that it refused with `code` in one escaped line, and that the store is unchanged. */
  refuses(args: string[], code: number, opts?: { input?: Buffer; mentions?: RegExp }): Promise<RunResult>;
}

async function fixture(t: TestContext): Promise<Fixture> {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  writeFileSync(join(dir, 'good.tar'), goodLayer);
  const made = await rootfs(['--store', store, 'import', join(dir, 'good.tar'), 'base:1']);
  assert.equal(made.code, 0, made.stderr);
  return {
    dir,
    store,
    async refuses(args, code, opts = {}) {
      const before = snapshot(store);
      const result = await rootfs(['--store', store, ...args], opts.input ? { input: opts.input } : {});
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      const lines = result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('rootfs: warning:'));
      assert.equal(lines.length, 1, `one line expected: ${JSON.stringify(result.stderr)}`);
      assert.match(lines[0]!, /^rootfs: /);
      assert.doesNotMatch(result.stderr, /^\s+at /m);
      assert.doesNotMatch(result.stderr, /internal error/);
      assert.doesNotMatch(result.stderr, /[\x00-\x08\x0b-\x1f\x7f]/, 'no raw control character');
      if (opts.mentions) assert.match(lines[0]!, opts.mentions);
      assert.deepEqual(snapshot(store), before, 'the store is unchanged');
      return result;
    },
  };
}

test('import and load: a LIBARCHIVE.xattr key with bad %-encoding is bad input naming the member', async (t) => {
  const f = await fixture(t);
  const layer = tarOf([{ path: 'etc/evil', body: 'x', pax: new Map([['LIBARCHIVE.xattr.user.%E0%A4%A', Buffer.from('eA==')]]) }]);
  writeFileSync(join(f.dir, 'bad.tar'), layer);
  await f.refuses(['import', join(f.dir, 'bad.tar'), 'bad:1'], 3, { mentions: /etc\/evil/ });
  writeFileSync(join(f.dir, 'bad-docker.tar'), dockerArchive(layer, ['bad:1']));
  await f.refuses(['load', '-i', join(f.dir, 'bad-docker.tar')], 3, { mentions: /etc\/evil/ });
});

test('member names with newlines and ESC are escaped in messages', async (t) => {
  const f = await fixture(t);
  // A truncated member: its header promises 100 bytes, the archive ends first.
  const header = encodeHeader({ path: Buffer.from('a\nrootfs: forged\x1b[2J'), type: 'file', mode: 0o644, uid: 0, gid: 0, size: 100, mtime: 0 });
  const result = await f.refuses(['import', '-', 'esc:1'], 3, { input: Buffer.concat([header, Buffer.alloc(10)]) });
  assert.match(result.stderr, /a\\x0arootfs: forged\\x1b\[2J/);
  // An image archive by its first member (load reads on), holding one name twice.
  writeFileSync(join(f.dir, 'dup.tar'), tarOf([{ path: 'manifest.json', body: '[]' }, { path: 'x\x1b]0;t\x07', body: '1' }, { path: 'x\x1b]0;t\x07', body: '2' }]));
  await f.refuses(['load', '-i', join(f.dir, 'dup.tar')], 3, { mentions: /x\\x1b\]0;t\\x07.*(?:twice|duplicate|more than once)/ });
  // Refused as no image archive at its first member, the name is escaped the same way.
  writeFileSync(join(f.dir, 'fs.tar'), tarOf([{ path: 'x\x1b]0;t\x07', body: '1' }]));
  await f.refuses(['load', '-i', join(f.dir, 'fs.tar')], 3, { mentions: /x\\x1b\]0;t\\x07/ });
});

test('empty symlink targets, out-of-range owners and bad platforms are refused on import', async (t) => {
  const f = await fixture(t);
  writeFileSync(join(f.dir, 'empty-link.tar'), tarOf([{ path: 'dangling', type: 'symlink', linkpath: Buffer.alloc(0) }]));
  await f.refuses(['import', join(f.dir, 'empty-link.tar'), 'e:1'], 3, { mentions: /dangling.*empty target/ });
  writeFileSync(join(f.dir, 'empty-link-docker.tar'), dockerArchive(tarOf([{ path: 'dangling', type: 'symlink', linkpath: Buffer.alloc(0) }]), ['e:1']));
  await f.refuses(['load', '-i', join(f.dir, 'empty-link-docker.tar')], 3, { mentions: /dangling/ });
  writeFileSync(join(f.dir, 'uid.tar'), tarOf([{ path: 'owned', body: 'x', uid: 2 ** 33 }]));
  await f.refuses(['import', join(f.dir, 'uid.tar'), 'u:1'], 3, { mentions: /uid 8589934592 is out of range/ });
  await f.refuses(['import', '--platform', '../../x', join(f.dir, 'good.tar'), 'p:1'], 2, { mentions: /invalid platform/ });
  await f.refuses(['import', '--platform', 'linux/./x', join(f.dir, 'good.tar'), 'p:1'], 2);
});

test('load: a RepoTags name with a digest is bad input, and nothing is committed', async (t) => {
  const f = await fixture(t);
  writeFileSync(join(f.dir, 'digest-tag.tar'), dockerArchive(tarOf([{ path: 'new', body: 'new content' }]), [`name@sha256:${'a'.repeat(64)}`]));
  await f.refuses(['load', '-i', join(f.dir, 'digest-tag.tar')], 3, { mentions: /not a name:tag/ });
});

test('load: index.json annotations of the wrong type are bad input', async (t) => {
  const f = await fixture(t);
  for (const [key, value] of [['io.containerd.image.name', 5], ['io.rootfs.delta.omitted-layers', 7]] as const) {
    const layout = join(f.dir, `layout-${value}`);
    ociLayout(layout, goodLayer, (index) => {
      if (key.startsWith('io.rootfs')) index.annotations = { [key]: value };
      else index.manifests[0].annotations[key] = value;
    });
    await f.refuses(['load', '-i', layout], 3, { mentions: /annotation .* not a string/ });
  }
});

test("load: a layout whose graph is damaged (a config or an index's child missing, a blob name linking to other bytes) is bad input naming the blob", async (t) => {
  const f = await fixture(t);
  const damaged = (name: string, damage: (blobs: string, manifest: any, index: any) => void): string => {
    const layout = join(f.dir, name);
    const { blobs } = ociLayout(layout, goodLayer);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(join(blobs, index.manifests[0].digest.slice(7)), 'utf8'));
    damage(blobs, manifest, index);
    writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
    return layout;
  };
  const noConfig = damaged('no-config', (blobs, manifest) => rmSync(join(blobs, manifest.config.digest.slice(7))));
  await f.refuses(['load', '-i', noConfig], 3, { mentions: /blobs\/sha256\/[0-9a-f]{64}: image x:1: its config sha256:[0-9a-f]{64} is not in the archive/ });
  // A link where a layer's blob should be, leading to the config's bytes.
  const linked = damaged('linked', (blobs, manifest) => {
    const layer = join(blobs, manifest.layers[0].digest.slice(7));
    rmSync(layer);
    symlinkSync(manifest.config.digest.slice(7), layer);
  });
  await f.refuses(['load', '-i', `oci-archive:${tarLayout(f.dir, linked)}`], 3, { mentions: /blobs\/sha256\/[0-9a-f]{64}: digest mismatch/ });
  // An index whose one child is not in the layout: nothing to load under it.
  const orphan = damaged('orphan', (blobs, _manifest, index) => {
    const child = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 10 };
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [child] });
    writeFileSync(join(blobs, sha(body)), body);
    Object.assign(index.manifests[0], { mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${sha(body)}`, size: body.length });
  });
  await f.refuses(['load', '-i', `oci-archive:${tarLayout(f.dir, orphan)}`], 3, { mentions: /an index with no image manifest under it/ });
});

/** A layout directory as an oci-archive tar beside it (members as they lie: a link stays a link). */
function tarLayout(dir: string, layout: string): string {
  const tar = join(dir, `${layout.split('/').pop()}.tar`);
  execFileSync('tar', ['-cf', tar, '-C', layout, 'oci-layout', 'index.json', 'blobs']);
  return tar;
}

test('FIFOs and devices where metadata or a blob should be: refused at once, nothing read from them', async (t) => {
  const f = await fixture(t);
  const fifoIndex = join(f.dir, 'fifo-index');
  ociLayout(fifoIndex, goodLayer);
  rmSync(join(fifoIndex, 'index.json'));
  execFileSync('mkfifo', [join(fifoIndex, 'index.json')]);
  await f.refuses(['load', '-i', fifoIndex], 3, { mentions: /index\.json: not a regular file \(a FIFO\)/ });

  const zeroIndex = join(f.dir, 'zero-index');
  ociLayout(zeroIndex, goodLayer);
  rmSync(join(zeroIndex, 'index.json'));
  symlinkSync('/dev/zero', join(zeroIndex, 'index.json'));
  await f.refuses(['load', '-i', zeroIndex], 3, { mentions: /character device/ });

  for (const [kind, make] of [['fifo', (path: string) => execFileSync('mkfifo', [path])], ['zero', (path: string) => symlinkSync('/dev/zero', path)]] as const) {
    const layout = join(f.dir, `${kind}-blob`);
    const { blobs, layerHex } = ociLayout(layout, goodLayer);
    rmSync(join(blobs, layerHex));
    make(join(blobs, layerHex));
    await f.refuses(['load', '-i', layout], 3, { mentions: /not a regular file/ });
  }

  await f.refuses(['save', '--exclude-have', '/dev/zero', '-o', join(f.dir, 'out.tar'), 'base:1'], 3, { mentions: /\/dev\/zero: not a regular file/ });
  symlinkSync('/dev/zero', join(f.dir, 'zero.parts.json'));
  for (const verb of ['verify', 'join']) await f.refuses([verb, join(f.dir, 'zero.parts.json'), ...(verb === 'join' ? ['-o', join(f.dir, 'joined')] : [])], 3, { mentions: /not a regular file/ });
});

test("a store whose index.json is a device or a FIFO: one line, exit 3, at once", async (t) => {
  const f = await fixture(t);
  const index = join(f.store, 'index.json');
  const saved = readFileSync(index);
  rmSync(index);
  symlinkSync('/dev/zero', index);
  for (const verb of ['images', 'gc']) await f.refuses([verb], 3, { mentions: /index\.json: not a regular file/ });
  rmSync(index);
  execFileSync('mkfifo', [index]);
  await f.refuses(['images'], 3, { mentions: /a FIFO/ });
  rmSync(index);
  writeFileSync(index, saved);
});

test('import /dev/zero and load -i /dev/zero end: data going on after the end-of-archive marker is refused', async (t) => {
  const f = await fixture(t);
  for (const args of [['import', '/dev/zero', 'z:1'], ['load', '-i', '/dev/zero']]) await f.refuses(args, 3, { mentions: /after the end-of-archive marker/ });
  // A valid archive, then zeros for ever (`cat good.tar /dev/zero | rootfs import -`): the same.
  const endless = await run('sh', ['-c', `cat ${join(f.dir, 'good.tar')} /dev/zero | ${process.execPath} ${join(projectRoot, 'bin', 'rootfs.js')} --store ${f.store} import - z:1`]);
  assert.equal(endless.code, 3, endless.stderr);
  // Padding to a record, as GNU tar writes it, is not data.
  writeFileSync(join(f.dir, 'padded.tar'), Buffer.concat([goodLayer, Buffer.alloc(20 * 512 * 10)]));
  const padded = await rootfs(['--store', f.store, 'import', join(f.dir, 'padded.tar'), 'padded:1']);
  assert.equal(padded.code, 0, padded.stderr);
});

test('gc keeps an unknown artifact of 2 MB of nested arrays without overflowing the stack', async (t) => {
  const f = await fixture(t);
  const nested = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
  const hex = sha(nested);
  writeFileSync(join(f.store, 'blobs', 'sha256', hex), nested);
  const indexPath = join(f.store, 'index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8'));
  index.manifests.push({ mediaType: 'application/vnd.example.nested+json', digest: `sha256:${hex}`, size: nested.length });
  writeFileSync(indexPath, JSON.stringify(index));
  const result = await rootfs(['--store', f.store, 'gc']);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(lstatSync(join(f.store, 'blobs', 'sha256', hex)).isFile(), 'the artifact is kept');
});

test('load: memory stays flat in the number and size of members', async (t) => {
  const f = await fixture(t);
  // 20k distinct tiny members and 24 JSON-looking blobs as large as a document may be; neither is an image, so load refuses it at the end.
  const members: TarMember[] = [];
  // Named as blobs, so the archive starts like an image archive and load reads every member before refusing it.
  for (let i = 0; i < 20_000; i++) members.push({ path: `blobs/sha256/${sha(`member ${i}`)}`, body: `member ${i}` });
  const bigJson = (i: number): string => `{${' '.repeat(documentCaps.image - 4)}${i % 10}}`;
  for (let i = 0; i < 24; i++) members.push({ path: `blobs/sha256/${sha(bigJson(i))}`, body: bigJson(i) });
  writeFileSync(join(f.dir, 'many.tar'), tarOf(members));
  members.length = 0;
  const probe = join(f.dir, 'probe.mjs');
  // maxRSS of the command itself, read as it exits.
  writeFileSync(
    probe,
    `import { writeFileSync } from 'node:fs';\nimport { main } from ${JSON.stringify(join(projectRoot, 'dist', 'src', 'cli', 'main.js'))};\nconst code = await main(process.argv);\nwriteFileSync(${JSON.stringify(join(f.dir, 'rss'))}, String(process.resourceUsage().maxRSS));\nprocess.exitCode = code;\n`,
  );
  const before = snapshot(f.store);
  const result = await run(process.execPath, [probe, '--store', f.store, 'load', '-i', join(f.dir, 'many.tar')]);
  assert.equal(result.code, 3, result.stderr);
  assert.doesNotMatch(result.stderr, /not an image archive/, 'read to the end, not refused at its first member');
  assert.deepEqual(snapshot(f.store), before);
  const rssMiB = Number(readFileSync(join(f.dir, 'rss'), 'utf8')) / 1024;
  // Before: 24 × 8 MiB of JSON alone held ~200 MiB more than this, and 20k members ~700 MiB.
  assert.ok(rssMiB < 250, `load used ${rssMiB.toFixed(0)} MiB`);
});

test('unpack on a full disk: one line, exit 5, and the directory it created is gone', async (t) => {
  if (!requireRoot(t)) return;
  const f = await fixture(t);
  const big = tarOf([{ path: 'big', body: Buffer.alloc(8 * 1024 * 1024, 1) }, { path: 'big2', body: Buffer.alloc(8 * 1024 * 1024, 2) }]);
  writeFileSync(join(f.dir, 'big.tar'), big);
  assert.equal((await rootfs(['--store', f.store, 'import', join(f.dir, 'big.tar'), 'big:1'])).code, 0);
  const mount = join(f.dir, 'small');
  mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', mount]);
  try {
    const target = join(mount, 'root');
    await f.refuses(['unpack', 'big:1', target], 5, { mentions: /root\/big2: no space left on device/ });
    assert.deepEqual(readdirSync(mount), []);
  } finally {
    execFileSync('umount', [mount]);
  }
});

/** A stored image tagged bad:1: base:1's manifest and config as `edit` leaves them, written as new blobs. */
function corruptedBase(store: string, edit: (manifest: any, config: any) => void): void {
  const blob = (digest: string): string => join(store, 'blobs', 'sha256', digest.slice(7));
  const put = (value: unknown): { digest: string; size: number } => {
    const data = JSON.stringify(value);
    writeFileSync(join(store, 'blobs', 'sha256', sha(data)), data);
    return { digest: `sha256:${sha(data)}`, size: Buffer.byteLength(data) };
  };
  const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8'));
  const entry = index.manifests.find((item: any) => item.annotations?.['org.opencontainers.image.ref.name'] === 'base:1');
  const manifest = JSON.parse(readFileSync(blob(entry.digest), 'utf8'));
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'));
  edit(manifest, config);
  manifest.config = { ...manifest.config, ...put(config) };
  index.manifests.push({ ...entry, ...put(manifest), annotations: { 'org.opencontainers.image.ref.name': 'bad:1', 'io.containerd.image.name': 'docker.io/library/bad:1' } });
  writeFileSync(join(store, 'index.json'), JSON.stringify(index));
}

test('import/commit --base and diff over a stored base whose config or manifest lies about its layers: exit 3, the store unchanged', async (t) => {
  const f = await fixture(t);
  const tree = join(f.dir, 'tree');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc/hostname'), 'box\n');
  const corruptions: Array<[string, (manifest: any, config: any) => void, RegExp]> = [
    ['a diff_id that is not its layer\'s', (_manifest, config) => void (config.rootfs.diff_ids = [`sha256:${sha('another layer')}`]), /^rootfs: bad:1 layer 1 \(sha256:[0-9a-f]{12}\): diff_id sha256:[0-9a-f]{64} does not match rootfs\.diff_ids\[0\]/],
    ['two diff_ids for one layer', (_manifest, config) => void config.rootfs.diff_ids.push(config.rootfs.diff_ids[0]), /^rootfs: bad:1: manifest sha256:[0-9a-f]{64}: 1 layer for the 2 diff_ids of config/],
    ['a bogus layer media type', (manifest) => void (manifest.layers[0].mediaType = 'application/x-bogus'), /^rootfs: bad:1 layer 1 \(sha256:[0-9a-f]{12}\): unsupported layer media type "application\/x-bogus"/],
  ];
  for (const [what, edit, message] of corruptions) {
    rmSync(f.store, { recursive: true, force: true });
    const made = await rootfs(['--store', f.store, 'import', join(f.dir, 'good.tar'), 'base:1']);
    assert.equal(made.code, 0, made.stderr);
    corruptedBase(f.store, edit);
    await t.test(what, async () => {
      await f.refuses(['import', tree, 'new:1', '--base', 'bad:1'], 3, { mentions: message });
      await f.refuses(['commit', tree, 'new:1', '--base', 'bad:1'], 3, { mentions: message });
      await f.refuses(['import', '-', 'new:1', '--base', 'bad:1'], 3, { input: goodLayer, mentions: message });
      await f.refuses(['import', join(f.dir, 'good.tar'), 'new:1', '--base', 'bad:1'], 3, { mentions: message });
      await f.refuses(['diff', 'bad:1', tree], 3, { mentions: message });
    });
  }
});
/**
 * Puts an image into the store as another tool or a damaged disk could: base:1's
 * layers under a config and manifest made here (any JSON text), tagged `name`.
 * Returns the manifest's digest.
 */
function plantImage(store: string, name: string, config: string, manifestExtra: Record<string, unknown> = {}): string {
  const blobs = join(store, 'blobs', 'sha256');
  const put = (data: string): { digest: string; size: number } => {
    const hex = sha(data);
    writeFileSync(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
  };
  const indexPath = join(store, 'index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8'));
  const base = index.manifests.find((entry: any) => entry.annotations?.['org.opencontainers.image.ref.name'] === 'base:1');
  const baseManifest = JSON.parse(readFileSync(join(blobs, base.digest.slice(7)), 'utf8'));
  const manifest = put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(config) }, layers: baseManifest.layers, ...manifestExtra }));
  index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': name } });
  writeFileSync(indexPath, JSON.stringify(index));
  return manifest.digest;
}

/** base:1's config with `edit` applied, as JSON text. */
function baseConfig(store: string, edit: (config: any) => void): string {
  const blobs = join(store, 'blobs', 'sha256');
  const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8'));
  const base = index.manifests.find((entry: any) => entry.annotations?.['org.opencontainers.image.ref.name'] === 'base:1');
  const manifest = JSON.parse(readFileSync(join(blobs, base.digest.slice(7)), 'utf8'));
  const config = JSON.parse(readFileSync(join(blobs, manifest.config.digest.slice(7)), 'utf8'));
  edit(config);
  return JSON.stringify(config);
}

test('configs nested 100k deep, with null or 10⁶ history entries, or more diff_ids than an image may have: exit 3 naming the blob, in every command that reads them', async (t) => {
  const f = await fixture(t);
  const nested = '['.repeat(100_000) + ']'.repeat(100_000);
  const configs: Array<[string, string, RegExp]> = [
    ['deep', baseConfig(f.store, (config) => (config.config.Labels = { x: 'PLACEHOLDER' })).replace('"PLACEHOLDER"', nested), /nested more than 64 levels deep/],
    ['null-history', baseConfig(f.store, (config) => (config.history = [null])), /history\[0\]: null is not a history entry/],
    ['huge-history', baseConfig(f.store, (config) => (config.history = Array.from({ length: 1_000_000 }, () => ({})))), /1000000 history entries: more than the 16384/],
    ['many-diff-ids', baseConfig(f.store, (config) => (config.rootfs.diff_ids = Array.from({ length: 5000 }, (_, i) => `sha256:${sha(String(i))}`))), /5000 rootfs\.diff_ids: more than the 4096/],
    ['bad-env', baseConfig(f.store, (config) => (config.config.Env = [7])), /config\.Env: is not a list of strings/],
  ];
  const unpacked = join(f.dir, 'tree');
  mkdirSync(join(unpacked, 'etc'), { recursive: true });
  writeFileSync(join(unpacked, 'etc', 'hostname'), 'box\n');
  for (const [name, config] of configs) plantImage(f.store, `${name}:1`, config);
  for (const [name, , why] of configs) {
    const ref = `${name}:1`;
    const mentions = new RegExp(`blobs/sha256/[0-9a-f]{64}.*${why.source}`);
    for (const args of [['config', ref], ['history', ref], ['diff', ref, 'base:1'], ['diff', 'base:1', ref], ['config', ref, '--label', 'a=b'], ['append', ref, join(f.dir, 'good.tar')], ['rebase', ref, '--old-base', 'base:1', '--new-base', 'base:1'], ['commit', unpacked, 'c:1', '--base', ref], ['import', unpacked, 'i:1', '--base', ref]]) {
      await f.refuses(args, 3, { mentions });
    }
  }
});

test("rebase: a base annotation naming a signature, or garbage, is bad input; a new base with the old base's layers writes nothing", async (t) => {
  const f = await fixture(t);
  // An artifact manifest (a signature's shape): its config is the empty descriptor, no image config.
  const blobs = join(f.store, 'blobs', 'sha256');
  writeFileSync(join(blobs, sha('{}')), '{}');
  const signature = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${sha('{}')}`, size: 2 }, layers: [] });
  writeFileSync(join(blobs, sha(signature)), signature);
  const config = baseConfig(f.store, () => {});
  plantImage(f.store, 'signed-base:1', config, { annotations: { 'org.opencontainers.image.base.digest': `sha256:${sha(signature)}` } });
  await f.refuses(['rebase', 'signed-base:1', '--new-base', 'base:1'], 3, { mentions: /not an image config/ });
  plantImage(f.store, 'garbage-base:1', config, { annotations: { 'org.opencontainers.image.base.digest': '../../../etc/passwd' } });
  await f.refuses(['rebase', 'garbage-base:1', '--new-base', 'base:1'], 3, { mentions: /base\.digest: not a sha256 digest/ });

  assert.equal((await rootfs(['--store', f.store, 'append', 'base:1', join(f.dir, 'good.tar'), 'app:1'])).code, 0);
  assert.equal((await rootfs(['--store', f.store, 'config', 'base:1', '--label', 'same=layers', 'base:2'])).code, 0);
  const before = snapshot(f.store);
  const result = await rootfs(['--store', f.store, 'rebase', 'app:1', '--old-base', 'base:1', '--new-base', 'base:2']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /app:1 is already on base:2 .*: nothing written/);
  assert.deepEqual(snapshot(f.store), before, 'nothing written');
});

test('listings escape names and texts from input: diff of a tar, an image and a directory, and history; --json stays exact', async (t) => {
  const f = await fixture(t);
  const forged = 'x\nD /etc/passwd';
  const escape = 'y\x1b[2J\rz';
  writeFileSync(join(f.dir, 'evil.tar'), tarOf([{ path: 'etc', type: 'directory', mode: 0o755 }, { path: 'etc/hostname', body: 'box\n' }, { path: 'x\nD ', type: 'directory', mode: 0o755 }, { path: 'x\nD /etc', type: 'directory', mode: 0o755 }, { path: forged, body: '1' }, { path: escape, body: '2' }]));
  assert.equal((await rootfs(['--store', f.store, 'import', join(f.dir, 'evil.tar'), 'evil:1', '-m', 'made\nby \x1b[31mme'])).code, 0);
  const tree = join(f.dir, 'tree');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  mkdirSync(join(tree, 'x\nD ', 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc', 'hostname'), 'box\n');
  writeFileSync(join(tree, forged), '1');
  writeFileSync(join(tree, escape), '2');
  const added = ['/x\nD ', '/x\nD /etc', `/${forged}`, `/${escape}`];
  const expected = ['A /x\\x0aD ', 'A /x\\x0aD /etc', 'A /x\\x0aD /etc/passwd', 'A /y\\x1b[2J\\x0dz'];
  for (const b of ['evil:1', join(f.dir, 'evil.tar'), tree]) {
    const result = await rootfs(['--store', f.store, 'diff', 'base:1', b]);
    assert.equal(result.code, 0, result.stderr);
    // A directory's own etc/ differs from the tar's in times and owners: only what was added is compared.
    const lines = result.stdout.toString().split('\n').filter((line) => line !== '');
    assert.deepEqual(lines.filter((line) => line.startsWith('A ')), expected, b);
    assert.ok(lines.every((line) => /^[AC] \//.test(line)), `no forged line: ${JSON.stringify(lines)}`);
    const json = await rootfs(['--store', f.store, 'diff', 'base:1', b, '--json']);
    assert.deepEqual(JSON.parse(json.stdout.toString()).filter((d: { kind: string }) => d.kind === 'A').map((d: { Path: string }) => d.Path), added);
  }
  const history = await rootfs(['--store', f.store, 'history', 'evil:1', '--no-trunc']);
  assert.equal(history.code, 0, history.stderr);
  assert.doesNotMatch(history.stdout.toString(), /[\x00-\x08\x0b-\x1f\x7f]/, 'no raw control character');
  assert.match(history.stdout.toString(), /made\\x0aby \\x1b\[31mme/);
  assert.equal(history.stdout.toString().trim().split('\n').length, 2, 'a header and one row');
  const json = await rootfs(['--store', f.store, 'history', 'evil:1', '--json']);
  assert.equal(JSON.parse(json.stdout.toString())[0].comment, 'made\nby \x1b[31mme');
  // inspect -f: the template's own \t and \n are kept, a value's are escaped.
  assert.equal((await rootfs(['--store', f.store, 'config', 'base:1', '-c', 'LABEL a="x\nD /etc/passwd"', 'labelled:1'])).code, 0);
  const inspected = await rootfs(['--store', f.store, 'inspect', '-f', '{{.Config.Labels}}\t{{.Os}}\n', 'labelled:1']);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.equal(inspected.stdout.toString(), 'map[a:x\\x0aD /etc/passwd]\tlinux\n\n');
});

test('split and verify: a file name with a newline and ESC is escaped in their listings', async (t) => {
  const f = await fixture(t);
  const name = 'a\nD \x1b[2Jx';
  writeFileSync(join(f.dir, name), Buffer.alloc(2500, 7));
  const parts = join(f.dir, 'parts');
  const split = await rootfs(['split', join(f.dir, name), '--size', '1000', '--force', '-o', parts]);
  assert.equal(split.code, 0, split.stderr);
  // split lists nothing on stdout (one summary line on stderr, as GNU split); that line names the file escaped.
  assert.equal(split.stdout.length, 0);
  assert.doesNotMatch(split.stderr, /[\x00-\x08\x0b-\x1f\x7f]/, 'no raw control character');
  assert.match(split.stderr, /a\\x0aD \\x1b\[2Jx/);
  const verify = await rootfs(['verify', parts]);
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout.toString(), /^a\\x0aD \\x1b\[2Jx: OK \(3 parts, /);
  assert.equal(verify.stdout.toString().split('\n').length, 2, 'one line');
});

test('append: a layer with whiteouts for "..", "." or "" is refused as import refuses it, the store unchanged', async (t) => {
  const f = await fixture(t);
  for (const name of ['etc/.wh...', '.wh..', '.wh.']) {
    writeFileSync(join(f.dir, 'wh.tar'), tarOf([{ path: name, body: '' }]));
    for (const args of [['append', 'base:1', join(f.dir, 'wh.tar'), 'w:1'], ['import', join(f.dir, 'wh.tar'), 'w:1']]) await f.refuses(args, 3, { mentions: /whiteout .* names no file/ });
  }
});

test('--change: a malformed instruction is a usage error (2) before anything is written, in import, commit and config', async (t) => {
  const f = await fixture(t);
  const tree = join(f.dir, 'tree');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc', 'hostname'), 'changed\n');
  for (const change of ['CMD [', 'ENTRYPOINT ["a", 1]', '{"a":1}', 'STOPSIGNAL garbage', 'VOLUME ["a",', 'HEALTHCHECK CMD [']) {
    for (const args of [['import', join(f.dir, 'good.tar'), 'c:1'], ['commit', tree, 'c:1', '--base', 'base:1'], ['import', tree, 'c:1', '--base', 'base:1'], ['config', 'base:1', 'c:1']]) {
      await f.refuses([...args, '-c', change], 2, { mentions: /--change/ });
    }
  }
});

test('config --label __proto__=x and LABEL __proto__ are kept as any other key', async (t) => {
  const f = await fixture(t);
  const made = await rootfs(['--store', f.store, 'config', 'base:1', '--label', '__proto__=x', '-c', 'VOLUME __proto__', '--annotation', '__proto__=z', 'p:1']);
  assert.equal(made.code, 0, made.stderr);
  const config = JSON.parse((await rootfs(['--store', f.store, 'config', 'p:1', '--json'])).stdout.toString());
  assert.equal(Object.getOwnPropertyDescriptor(config.config.Labels, '__proto__')?.value, 'x');
  assert.ok(Object.hasOwn(config.config.Volumes, '__proto__'));
  const inspected = JSON.parse((await rootfs(['--store', f.store, 'inspect', 'p:1'])).stdout.toString());
  assert.equal(Object.getOwnPropertyDescriptor(inspected[0].Manifest.annotations, '__proto__')?.value, 'z');
});
