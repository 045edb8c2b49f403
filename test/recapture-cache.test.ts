/**
 * The tree index cache (docs/incremental.md): a re-capture on an image whose
 * index the store keeps reads none of its layers and writes the layer it
 * would have written without it; a damaged index is said, ignored and
 * written again; gc drops an index with the last image of its chain; a
 * write that fails or a command that only reads leaves nothing.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { imageMembers } from '../src/layers/members.js';
import { indexTree } from '../src/layers/tree-index.js';
import { readTreeIndexFile, treeIndexChunks, TreeIndexFileError } from '../src/layers/tree-index-file.js';
import { chainId } from '../src/oci/digest.js';
import type { Digest } from '../src/oci/types.js';
import { resolveImage } from '../src/store/resolve.js';
import { makeTempDir, rootfs } from './helpers.js';
import { snapshot, withStore } from './fixtures.js';

interface Fixture {
  work: string;
  tree: string;
  store: string;
  ok: (args: string[]) => Promise<{ stdout: string; stderr: string }>;
  /** The image's layer digests and the ChainID of its diff_ids. */
  image: (ref: string) => Promise<{ layers: Digest[]; chain: Digest; diffId: Digest }>;
  indexes: () => string[];
}

function fixture(t: TestContext): Fixture {
  const work = makeTempDir(t, 'rootfs-recapture-cache-');
  const tree = join(work, 'tree');
  const store = join(work, 'store');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  mkdirSync(join(tree, 'usr/bin'), { recursive: true });
  writeFileSync(join(tree, 'etc/hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(tree, 'etc/conf'), 'v1\n');
  writeFileSync(join(tree, 'usr/bin/tool'), 'binary\n'.repeat(1000));
  linkSync(join(tree, 'usr/bin/tool'), join(tree, 'usr/bin/alias'));
  // A name that is not UTF-8 survives the file.
  writeFileSync(Buffer.concat([Buffer.from(`${tree}/etc/`), Buffer.from([0x66, 0xff, 0x6f])]), 'latin\n');
  const ok = async (args: string[]): Promise<{ stdout: string; stderr: string }> => {
    const result = await rootfs(['--store', store, ...args]);
    assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
    return { stdout: result.stdout.toString(), stderr: result.stderr.toString() };
  };
  return {
    work,
    tree,
    store,
    ok,
    async image(ref) {
      const [inspected] = JSON.parse((await ok(['inspect', ref])).stdout) as Array<{ Manifest: { layers: Array<{ digest: Digest }> }; RootFS: { Layers: Digest[] } }>;
      const diffIds = inspected!.RootFS.Layers;
      return { layers: inspected!.Manifest.layers.map((layer) => layer.digest), chain: chainId(diffIds), diffId: diffIds[diffIds.length - 1]! };
    },
    indexes() {
      const dir = join(store, '.rootfs/tree-index');
      return existsSync(dir) ? readdirSync(dir).sort() : [];
    },
  };
}

const hex = (digest: Digest): string => digest.slice('sha256:'.length);

/** v1, then v2 on it: the first re-capture reads v1's layers and keeps both indexes. */
async function twoCaptures(f: Fixture): Promise<void> {
  await f.ok(['import', f.tree, 'host:v1']);
  assert.deepEqual(f.indexes(), [], 'import without --base keeps no index');
  writeFileSync(join(f.tree, 'etc/conf'), 'v2 edited\n');
  await f.ok(['import', f.tree, 'host:v2', '--base', 'host:v1']);
  assert.deepEqual(f.indexes(), [hex((await f.image('host:v1')).chain), hex((await f.image('host:v2')).chain)].sort());
}

test('a re-capture on a kept index reads no base layer (their bytes replaced, it still succeeds) and writes the layer a re-capture without the index writes', async (t) => {
  const f = fixture(t);
  await twoCaptures(f);
  writeFileSync(join(f.tree, 'etc/new'), 'added\n');
  rmSync(join(f.tree, 'etc/hosts'));
  writeFileSync(join(f.tree, 'usr/bin/tool'), 'rebuilt\n'.repeat(1000));

  const { layers } = await f.image('host:v2');
  const blobs = join(f.store, 'blobs/sha256');
  const aside = join(f.work, 'aside');
  mkdirSync(aside);
  for (const layer of layers) {
    const path = join(blobs, hex(layer));
    cpSync(path, join(aside, hex(layer)));
    // Same size, other bytes: any read of a layer now fails its digest check.
    writeFileSync(path, Buffer.alloc(readFileSync(path).length, 0x5a));
  }
  await f.ok(['import', f.tree, 'host:cached', '--base', 'host:v2']);
  const cached = await f.image('host:cached');

  for (const layer of layers) cpSync(join(aside, hex(layer)), join(blobs, hex(layer)));
  rmSync(join(f.store, '.rootfs/tree-index'), { recursive: true });
  await f.ok(['import', f.tree, 'host:uncached', '--base', 'host:v2']);
  assert.equal(cached.diffId, (await f.image('host:uncached')).diffId);

  // The index kept for the new image is the one its layers give.
  await withStore(f.store, async (store) => {
    const image = await resolveImage(store, 'host:cached');
    const built = await indexTree(imageMembers(store, image.manifest.layers, 'host:cached'), 'host:cached');
    const kept = await readTreeIndexFile(store.treeIndexPath(cached.chain));
    assert.deepEqual(describe(kept), describe(built));
  });
});

test('from a tar stream, the index kept for the new image is the one its layers give (bodies spooled, hashed as the layer takes them)', async (t) => {
  const f = fixture(t);
  await twoCaptures(f);
  writeFileSync(join(f.tree, 'usr/bin/tool'), 'rebuilt\n'.repeat(1000));
  rmSync(join(f.tree, 'etc/hosts'));
  const tar = join(f.work, 'v3.tar');
  await f.ok(['pack', f.tree, '-o', tar]);
  const piped = await rootfs(['--store', f.store, 'import', '-', 'host:piped', '--base', 'host:v2'], { input: readFileSync(tar) });
  assert.equal(piped.code, 0, piped.stderr.toString());
  const { chain } = await f.image('host:piped');
  await withStore(f.store, async (store) => {
    const image = await resolveImage(store, 'host:piped');
    const built = await indexTree(imageMembers(store, image.manifest.layers, 'host:piped'), 'host:piped');
    assert.deepEqual(describe(await readTreeIndexFile(store.treeIndexPath(chain))), describe(built));
  });
});

test('a missing base layer is still "not found" with a kept index', async (t) => {
  const f = fixture(t);
  await twoCaptures(f);
  const { layers } = await f.image('host:v2');
  rmSync(join(f.store, 'blobs/sha256', hex(layers[0]!)));
  const result = await rootfs(['--store', f.store, 'import', f.tree, 'host:v3', '--base', 'host:v2']);
  assert.equal(result.code, 4, result.stderr.toString());
  assert.match(result.stderr.toString(), new RegExp(`^rootfs: host:v2: blob ${layers[0]} is not in the store`));
});

test('a damaged or cut short index is ignored with a warning, the layers are read, and it is written again whole', async (t) => {
  const f = fixture(t);
  await twoCaptures(f);
  const { chain } = await f.image('host:v2');
  const path = join(f.store, '.rootfs/tree-index', hex(chain));
  const whole = readFileSync(path);
  // Written from what the compare saw; written again from the layers: the same tree, whatever the node order.
  const tree = describe(await readTreeIndexFile(path));
  const damaged = Buffer.from(whole);
  damaged[damaged.length - 40]! ^= 1;
  writeFileSync(path, damaged);
  const first = await f.ok(['import', f.tree, 'host:after-damage', '--base', 'host:v2']);
  assert.match(first.stderr, new RegExp(`^rootfs: warning: ${path}: tree index ignored \\(its checksum does not match\\); reading the layers instead$`, 'm'));
  assert.deepEqual(describe(await readTreeIndexFile(path)), tree, 'written again, whole');

  truncateSync(path, whole.length - 100);
  const second = await f.ok(['import', f.tree, 'host:after-cut', '--base', 'host:v2']);
  assert.match(second.stderr, /tree index ignored \(\d+ bytes, not the \d+ its header implies\)/);
  assert.deepEqual(describe(await readTreeIndexFile(path)), tree);

  const third = await f.ok(['import', f.tree, 'host:clean', '--base', 'host:v2']);
  assert.doesNotMatch(third.stderr, /warning/);
  assert.equal((await f.image('host:clean')).diffId, (await f.image('host:after-damage')).diffId);
});

test('gc removes an index when the last image of its chain is gone, and keeps the others', async (t) => {
  const f = fixture(t);
  await twoCaptures(f);
  const v1 = await f.image('host:v1');
  const v2 = await f.image('host:v2');
  await f.ok(['tag', 'host:v2', 'other:v2']);
  await f.ok(['rmi', 'host:v2']);
  await f.ok(['gc']);
  assert.deepEqual(f.indexes(), [hex(v1.chain), hex(v2.chain)].sort(), 'other:v2 has the chain still');
  await f.ok(['rmi', 'other:v2']);
  const gc = JSON.parse((await f.ok(['gc', '--json'])).stdout) as { treeIndexesRemoved: number };
  assert.equal(gc.treeIndexesRemoved, 1);
  assert.deepEqual(f.indexes(), [hex(v1.chain)]);
});

test('diff reads a kept index but writes none: the store is byte-identical after it', async (t) => {
  const f = fixture(t);
  await f.ok(['import', f.tree, 'host:v1']);
  writeFileSync(join(f.tree, 'etc/conf'), 'v2 edited\n');
  const before = snapshot(f.store);
  assert.match((await f.ok(['diff', 'host:v1', f.tree])).stdout, /^C \/etc\/conf$/m);
  assert.deepEqual(snapshot(f.store), before);
  assert.deepEqual(f.indexes(), []);
});

test('an index write that fails part way leaves no file and no temp file; the index file round-trips', async (t) => {
  const f = fixture(t);
  await f.ok(['import', f.tree, 'host:v1']);
  await withStore(f.store, async (store) => {
    const image = await resolveImage(store, 'host:v1');
    const tree = await indexTree(imageMembers(store, image.manifest.layers, 'host:v1'), 'host:v1');
    const chain = chainId(image.config.rootfs.diff_ids);
    function* failing(): Generator<Buffer> {
      let sent = 0;
      for (const chunk of treeIndexChunks(tree)) {
        if (++sent === 3) throw new Error('interrupted');
        yield chunk;
      }
    }
    await assert.rejects(store.writeTreeIndex(chain, failing()), /interrupted/);
    assert.deepEqual(f.indexes(), []);
    assert.deepEqual(readdirSync(join(f.store, '.rootfs/tmp')), []);

    await store.writeTreeIndex(chain, treeIndexChunks(tree));
    const read = await readTreeIndexFile(store.treeIndexPath(chain));
    assert.deepEqual(describe(read), describe(tree));
    assert.ok(Object.keys(describe(read)).includes('etc/f\\xffo'));
    writeFileSync(store.treeIndexPath(chain), 'not an index at all, but long enough to have a header and a trailer, to be read as one');
    await assert.rejects(readTreeIndexFile(store.treeIndexPath(chain)), TreeIndexFileError);
  });
});

/** Per path with an entry: type, size, metadata hash, hardlink group size and content sum. */
function describe(tree: Awaited<ReturnType<typeof readTreeIndexFile>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (let node = 0; node < tree.index.count; node++) {
    if (tree.type[node] === 0) continue;
    const rep = tree.rep[node]!;
    const path = tree.index.path(node);
    const name = [...path].map((byte) => (byte >= 0x80 ? `\\x${byte.toString(16)}` : String.fromCharCode(byte))).join('');
    out[name] = [tree.type[node], tree.size[node], tree.hashA[node], tree.hashB[node], rep < 0 ? '' : tree.names[rep], rep < 0 ? '' : tree.sums.toString('hex', rep * 32, rep * 32 + 32)].join(' ');
  }
  return out;
}
