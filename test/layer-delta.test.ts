/**
 * Sub-layer deltas (docs/formats.md, "Delta layers"): the patch codec on its
 * own, then save and load around it: a layer the site lacks travels as a
 * patch against one it holds and is rebuilt there to the same blob, so
 * manifest digests, and signatures over them, survive the transfer.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { InvalidInputError } from '../src/errors.js';
import { CHUNK, decodeDelta, encodeDelta, spoolReference } from '../src/transports/layer-delta.js';
import { makeTempDir } from './helpers.js';
import { tarOf, type TarMember } from './fixtures.js';

/** A tree of text files, some large enough that the tar spans several chunks. */
function tree(count: number, seed: string): TarMember[] {
  const members: TarMember[] = [{ path: 'usr/' }];
  for (let i = 0; i < count; i++) {
    const body = i % 7 === 0 ? randomLines(`${seed}${i}`, 400_000) : `file ${i} of the tree\n`.repeat(20);
    members.push({ path: `usr/share/f${String(i).padStart(4, '0')}`, body });
  }
  return members;
}

/** Incompressible on its own (so a patch has to find it in the reference), the same for the same seed. */
function randomLines(seed: string, size: number): Buffer {
  const parts: Buffer[] = [];
  let state = createHash('sha256').update(seed).digest();
  for (let length = 0; length < size; length += state.length) {
    parts.push(state);
    state = createHash('sha256').update(state).digest();
  }
  return Buffer.concat(parts).subarray(0, size);
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

test('the codec: a tar several chunks long with members inserted and changed rebuilds bit-exact from a patch a fraction of its size', async (t) => {
  const work = makeTempDir(t);
  const old = tree(300, 'a');
  // An update: new members early on (so everything after shifts), a few changed, one removed.
  const updated = [...old.slice(0, 10), { path: 'usr/share/a-new-package', body: randomBytes(300_000) }, ...old.slice(10, 200).filter((_, i) => i !== 50), ...old.slice(200).map((member, i) => (i % 40 === 0 ? { ...member, body: `changed ${i}\n` } : member))];
  const reference = tarOf(old);
  const target = tarOf(updated);
  assert.ok(target.length > 2 * CHUNK, 'several chunks');
  const spooled = await spoolReference(Readable.from([reference]), join(work, 'ref.tar'), 'reference');
  assert.equal(spooled.size, reference.length);
  assert.equal(spooled.diffId, `sha256:${createHash('sha256').update(reference).digest('hex')}`);
  const delta = await collect(encodeDelta(spooled, Readable.from([target.subarray(0, 1000), target.subarray(1000)]), 'target'));
  // The new package's 300 kB are new; the rest is found in the reference.
  assert.ok(delta.length < 400_000, `delta ${delta.length} bytes of ${target.length}`);
  const deltaPath = join(work, 'delta');
  writeFileSync(deltaPath, delta);
  assert.ok((await collect(decodeDelta(deltaPath, spooled, 'delta'))).equals(target), 'rebuilt bit-exact');

  // A flipped byte in a frame, a truncation, another reference: refused, naming the delta.
  const refused = async (bytes: Buffer, against = spooled): Promise<void> => {
    writeFileSync(deltaPath, bytes);
    await assert.rejects(collect(decodeDelta(deltaPath, against, 'the delta')), (err: unknown) => err instanceof InvalidInputError && err.message.startsWith('the delta: not a rootfs layer delta'));
  };
  const flipped = Buffer.from(delta);
  flipped[delta.length - 100]! ^= 1;
  await refused(flipped);
  await refused(delta.subarray(0, delta.length - 30));
  const other = await spoolReference(Readable.from([tarOf(tree(300, 'b'))]), join(work, 'other.tar'), 'other');
  await refused(delta, other);
});
