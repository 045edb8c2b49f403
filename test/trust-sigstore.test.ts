// tier: unit
/**
 * Signing and verifying through the library (src/trust/), and Sigstore's own
 * libraries on our bundles and we on theirs, offline, with a local key as the
 * only trust material. (The commands: test/trust.test.ts.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder } from '@sigstore/sign';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { digestHex } from '../src/oci/digest.js';
import { emptyDescriptor, type Manifest } from '../src/oci/types.js';
import { BundleMediaType, CosignSignPredicate, InTotoPayloadType, keyHint, parseBundle, readSigningKey, readVerifyingKey, signBytes, signImage, signMessage, verifyMessage, verifyStoredImage, type SigningKey } from '../src/trust/index.js';
import { makeTempDir } from './helpers.js';
import { problemOf, replaceSignature, writeKeys } from './trust-fixture.js';
import { buildImage, buildMultiPlatformImage, withStore } from './fixtures.js';

test('a multi-platform index is signed as the index the name designates, and its children are checked', async (t) => {
  const dir = makeTempDir(t);
  const { key, pub } = writeKeys(dir, 'a', 'ed25519');
  await withStore(join(dir, 'store'), async (store) => {
    const { index } = await buildMultiPlatformImage(store, dir, 'multi:1');
    const signed = await signImage(store, 'multi:1', await readSigningKey(key));
    assert.equal(signed.subject.digest, index.digest);
    const verified = await verifyStoredImage(store, 'multi:1', [await readVerifyingKey(pub)]);
    assert.equal(verified.blobsChecked, 6, 'two manifests, two configs, two layers');
  });
});

test('@sigstore/verify accepts our bundles offline (an image DSSE statement, a part manifest message signature), with the public key as its only trust material', async (t) => {
  const dir = makeTempDir(t);
  const { key, pub } = writeKeys(dir, 'a');
  await withStore(join(dir, 'store'), async (store) => {
    const image = await buildImage(store, dir, { name: 'base:1' });
    const signed = await signImage(store, 'base:1', await readSigningKey(key));
    const artifact: Manifest = JSON.parse((await store.readBlob(signed.referrer.digest)).toString());
    assert.equal(artifact.artifactType, BundleMediaType);
    assert.deepEqual(artifact.config, emptyDescriptor);
    assert.equal(artifact.subject?.digest, image.manifest.digest);
    assert.equal(artifact.layers[0]?.annotations?.['org.opencontainers.image.title'], `sha256-${digestHex(signed.bundle.digest)}.sigstore.json`);
    assert.match(artifact.annotations?.['org.opencontainers.image.created'] ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.equal(artifact.annotations?.['dev.sigstore.bundle.content'], 'dsse-envelope');
    assert.equal(artifact.annotations?.['dev.sigstore.bundle.predicateType'], CosignSignPredicate);
    const bundle = bundleFromJSON(JSON.parse((await store.readBlob(signed.bundle.digest)).toString()));
    const publicKey = (await readVerifyingKey(pub)).publicKey;
    const trust = toTrustMaterial({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] }, (hint) => {
      assert.equal(hint, keyHint(publicKey));
      return { publicKey, validFor: () => true };
    });
    const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    verifier.verify(toSignedEntity(bundle));
    assert.ok(bundle.content.$case === 'dsseEnvelope');
    const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString());
    assert.equal(statement.predicateType, CosignSignPredicate);
    assert.deepEqual(statement.subject[0].digest, { sha256: digestHex(image.manifest.digest) });
    const forged = bundleFromJSON(JSON.parse((await store.readBlob(signed.bundle.digest)).toString()));
    assert.ok(forged.content.$case === 'dsseEnvelope');
    forged.content.dsseEnvelope.payload = Buffer.from(JSON.stringify({ ...statement, subject: [{ name: 'x', digest: { sha256: '0'.repeat(64) } }] }));
    assert.throws(() => verifier.verify(toSignedEntity(forged)), /signature/i, '@sigstore/verify refuses a changed statement');
    // A part manifest's bundle: a message signature over the file's bytes.
    const file = Buffer.from('{"format":"rootfs-parts"}');
    const message = bundleFromJSON(JSON.parse(signMessage(file, await readSigningKey(key)).toString()));
    verifier.verify(toSignedEntity(message, file));
    assert.throws(() => verifier.verify(toSignedEntity(message, Buffer.from('{"format":"rootfs-part"}'))), /digest|signature|mismatch/i);
  });
});

test('a bundle made by @sigstore/sign (a local-key Signer, no witnesses) verifies with rootfs, in the store as a referrer', async (t) => {
  const dir = makeTempDir(t);
  const { key, pub } = writeKeys(dir, 'a');
  const signing: SigningKey = await readSigningKey(key);
  await withStore(join(dir, 'store'), async (store) => {
    const image = await buildImage(store, dir, { name: 'base:1' });
    const manifestBytes = await store.readBlob(image.manifest.digest);
    const builder = new MessageSignatureBundleBuilder({
      signer: {
        sign: async (data: Buffer) => ({
          signature: signBytes(data, signing),
          key: { $case: 'publicKey' as const, publicKey: signing.publicKey.export({ type: 'spki', format: 'pem' }) as string, hint: keyHint(signing.publicKey) },
        }),
      },
      witnesses: [],
    });
    const made = await builder.create({ data: manifestBytes });
    const bundleBytes = Buffer.from(JSON.stringify(bundleToJSON(made)));
    const verifying = await readVerifyingKey(pub);
    const parsed = verifyMessage(bundleBytes, manifestBytes, verifying, 'base:1', 'the @sigstore/sign bundle');
    assert.equal(parsed.kind === 'message' && parsed.digest, image.manifest.digest);
    await replaceSignature(store, image.manifest, bundleBytes);
    const verified = await verifyStoredImage(store, 'base:1', [verifying]);
    assert.equal(parseBundle(bundleBytes, 'x').hint, verified.bundle.hint);
  });
});

test('a DSSE bundle made by @sigstore/sign over cosign\'s signature statement verifies with rootfs as an image signature', async (t) => {
  const dir = makeTempDir(t);
  const { key, pub } = writeKeys(dir, 'a', 'ecdsa-p256');
  const signing = await readSigningKey(key);
  await withStore(join(dir, 'store'), async (store) => {
    const image = await buildImage(store, dir, { name: 'base:1' });
    const builder = new DSSEBundleBuilder({
      signer: {
        sign: async (data: Buffer) => ({
          signature: signBytes(data, signing),
          key: { $case: 'publicKey' as const, publicKey: signing.publicKey.export({ type: 'spki', format: 'pem' }) as string, hint: keyHint(signing.publicKey) },
        }),
      },
      witnesses: [],
    });
    const statement = { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'base', digest: { sha256: digestHex(image.manifest.digest) } }], predicateType: CosignSignPredicate, predicate: {} };
    const made = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: InTotoPayloadType });
    await replaceSignature(store, image.manifest, Buffer.from(JSON.stringify(bundleToJSON(made))));
    const verified = await verifyStoredImage(store, 'base:1', [await readVerifyingKey(pub)]);
    assert.equal(verified.bundle.kind, 'dsse');
    // An attestation of another predicate type is not a signature.
    const attestation = await builder.create({ data: Buffer.from(JSON.stringify({ ...statement, predicateType: 'https://slsa.dev/provenance/v1' })), type: InTotoPayloadType });
    await replaceSignature(store, image.manifest, Buffer.from(JSON.stringify(bundleToJSON(attestation))));
    const refused = await problemOf(verifyStoredImage(store, 'base:1', [await readVerifyingKey(pub)]));
    assert.match(refused.message, /an attestation \("https:\/\/slsa.dev\/provenance\/v1"\), not a signature/);
  });
});
