/**
 * One cap per kind of document, whatever the source: a manifest of
 * documentCaps.image bytes loads from an OCI archive and from a layout
 * directory, one byte more is refused by both, and by the graph walk (the
 * store, gc) and the stream reader (a registry's body) too. Before the
 * table, an archive or layout took 8 MiB where a registry took 4.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { InvalidInputError } from '../src/errors.js';
import { documentCaps, readCapped } from '../src/io/metadata.js';
import { sha256 } from '../src/oci/digest.js';
import { MediaType } from '../src/oci/types.js';
import { walkImage } from '../src/oci/walk.js';
import { makeImage, makeLayer, ociMembers, snapshot, tarOf, writeMembers, type FixtureImage, type TarMember as Member } from './fixtures.js';
import { makeTempDir, rootfs } from './helpers.js';

/** An image whose manifest is padded with trailing spaces (still valid JSON) to exactly `size` bytes. */
function imageWithManifestOf(size: number, label: string): FixtureImage {
  const image = makeImage([makeLayer({ [`${label}.txt`]: label })], { label });
  const manifest = Buffer.concat([image.manifest, Buffer.alloc(size - image.manifest.length, 0x20)]);
  return { ...image, manifest, manifestDescriptor: { ...image.manifestDescriptor, digest: sha256(manifest), size } };
}

function members(image: FixtureImage, name: string): Member[] {
  return ociMembers([{ descriptor: image.manifestDescriptor, refName: name }], [image]);
}

async function loads(t: TestContext, how: 'archive' | 'layout'): Promise<void> {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const input = (image: FixtureImage, name: string): string => {
    const path = join(dir, `${name}.${how}`);
    if (how === 'archive') writeFileSync(path, tarOf(members(image, name)));
    else writeMembers(path, members(image, name));
    return how === 'archive' ? `oci-archive:${path}` : `oci:${path}`;
  };
  const atCap = await rootfs(['--store', store, 'load', '-q', '-i', input(imageWithManifestOf(documentCaps.image, 'fits'), 'fits')]);
  assert.equal(atCap.code, 0, atCap.stderr);
  const before = snapshot(store);
  const over = imageWithManifestOf(documentCaps.image + 1, 'over');
  const result = await rootfs(['--store', store, 'load', '-q', '-i', input(over, 'over')]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, new RegExp(`^rootfs: .*${over.manifestDescriptor.digest.slice('sha256:'.length)}.*(too large|larger than ${documentCaps.image})`, 'm'));
  assert.deepEqual(snapshot(store), before, 'the store is left as it was');
}

test('a manifest one byte over documentCaps.image is refused from an OCI archive, as from a registry; one at the cap loads', (t) => loads(t, 'archive'));

test('a manifest one byte over documentCaps.image is refused from a layout directory; one at the cap loads', (t) => loads(t, 'layout'));

test('the graph walk (store, gc, layouts) refuses a manifest or index over the cap before reading it', async () => {
  for (const mediaType of [MediaType.ImageManifest, MediaType.ImageIndex]) {
    const walk = walkImage([{ mediaType, digest: sha256(Buffer.from(mediaType)), size: documentCaps.image + 1 }], {
      read: () => assert.fail('read a document its descriptor says is too large'),
      where: () => 'blobs/sha256/x',
    });
    await assert.rejects(walk.next(), (err: Error) => err instanceof InvalidInputError && /^blobs\/sha256\/x: .*too large/.test(err.message));
  }
});

test('the stream reader (a registry body) takes a document at its cap and refuses one byte more, or more than its descriptor says', async () => {
  const body = (size: number): Readable => Readable.from([Buffer.alloc(size - 1, 0x20), Buffer.from('}')]);
  assert.equal((await readCapped(body(documentCaps.image), 'image')).length, documentCaps.image);
  await assert.rejects(readCapped(body(documentCaps.image + 1), 'image'), { code: 'ERR_RESPONSE_TOO_LARGE' });
  await assert.rejects(readCapped(body(101), 'image', 100), { code: 'ERR_RESPONSE_TOO_LARGE' });
});
