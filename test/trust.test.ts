/**
 * Image signatures: keygen, sign and verify through the CLI; our bundles
 * checked by @sigstore/verify and @sigstore/sign's checked by us; every kind
 * of tampering refused with its own reason, the store unchanged; no network.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NotFoundError, VerificationError } from '../src/errors.js';
import { sha256 } from '../src/oci/digest.js';
import { MediaType, emptyDescriptor, type Descriptor } from '../src/oci/types.js';
import type { Store } from '../src/store/store.js';
import { BundleMediaType, maxSignatures, signImageDigest, verifyImageSignature, type BlobSource, parseBundle, readSigningKey, readVerifyingKey, signImage, verifyStoredImage } from '../src/trust/index.js';
import { cliPath, makeTempDir, requireTools, rootfs, run, skipLoudly } from './helpers.js';
import { problemOf, replaceSignature, signatureManifest, writeKeys } from './trust-fixture.js';
import { buildImage, snapshot, withStore } from './fixtures.js';

function flipByte(path: string, at = 10): void {
  const data = readFileSync(path);
  data[at] = data[at]! ^ 1;
  writeFileSync(path, data);
}

test('keygen writes a 0600 private key and a public key; sign and verify through the CLI, both key types', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  await withStore(store, (s) => buildImage(s, dir, { name: 'base:1' }));
  for (const type of ['ecdsa-p256', 'ed25519']) {
    const prefix = join(dir, type);
    const made = await rootfs(['keygen', '--type', type, '-o', prefix], { env: { ROOTFS_KEY_PASSWORD: '' } });
    assert.equal(made.code, 0, made.stderr);
    assert.equal(statSync(`${prefix}.key`).mode & 0o777, 0o600);
    assert.match(readFileSync(`${prefix}.pub`, 'utf8'), /BEGIN PUBLIC KEY/);
    assert.equal((await readVerifyingKey(`${prefix}.pub`)).type, type);
    const again = await rootfs(['keygen', '--type', type, '-o', prefix]);
    assert.equal(again.code, 2, 'an existing key pair is not overwritten');
    const signed = await rootfs(['--store', store, 'sign', 'base:1', '--key', `${prefix}.key`]);
    assert.equal(signed.code, 0, signed.stderr);
    const verified = await rootfs(['--store', store, 'verify', 'base:1', '--key', `${prefix}.pub`, '--json']);
    assert.equal(verified.code, 0, verified.stderr);
    const report = JSON.parse(verified.stdout.toString());
    assert.equal(report.image, 'base:1');
    assert.equal(report.blobsChecked, 2);
  }
  const images = await rootfs(['--store', store, 'images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.equal(images.stdout.toString().trim(), 'base:1', 'signatures are not listed as images');
});

test('an encrypted key is read with ROOTFS_KEY_PASSWORD; without it (and no terminal) the command says what to do', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  await withStore(store, (s) => buildImage(s, dir, { name: 'base:1' }));
  const prefix = join(dir, 'enc');
  assert.equal((await rootfs(['keygen', '-o', prefix], { env: { ROOTFS_KEY_PASSWORD: 'sesame' } })).code, 0);
  assert.match(readFileSync(`${prefix}.key`, 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
  const missing = await rootfs(['--store', store, 'sign', 'base:1', '--key', `${prefix}.key`], { env: { ROOTFS_KEY_PASSWORD: undefined } });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /encrypted: set ROOTFS_KEY_PASSWORD/);
  const wrong = await rootfs(['--store', store, 'sign', 'base:1', '--key', `${prefix}.key`], { env: { ROOTFS_KEY_PASSWORD: 'nope' } });
  assert.match(wrong.stderr, /wrong passphrase/);
  const good = await rootfs(['--store', store, 'sign', 'base:1', '--key', `${prefix}.key`], { env: { ROOTFS_KEY_PASSWORD: 'sesame' } });
  assert.equal(good.code, 0, good.stderr);
});

test('verify: usage errors, an unknown image, an unsigned one', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const { pub } = writeKeys(dir, 'a');
  await withStore(store, (s) => buildImage(s, dir, { name: 'base:1' }));
  const nothing = await rootfs(['--store', store, 'verify', 'base:1', '--no-content']);
  assert.equal(nothing.code, 2, 'without --key, --no-content would check nothing');
  assert.match(nothing.stderr, /--no-content without --key would check nothing/);
  const unknown = await rootfs(['--store', store, 'verify', 'nosuch:1', '--key', pub]);
  assert.equal(unknown.code, 4, unknown.stderr);
  const missingDir = await rootfs(['--store', store, 'verify', join(dir, 'no-such-dir')]);
  assert.equal(missingDir.code, 4, 'a path is a part set even when it is not there');
  assert.match(missingDir.stderr, /no-such-dir: no such file or directory/);
  const unsigned = await rootfs(['--store', store, 'verify', 'base:1', '--key', pub]);
  assert.equal(unsigned.code, 3);
  assert.match(unsigned.stderr, /^rootfs: base:1: no signature/m);
});

test('tampering: each change is refused with its own reason, and verify leaves the store as it was', async (t) => {
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const { key, pub } = writeKeys(dir, 'a');
  const other = writeKeys(dir, 'b');
  const cases: Array<{ label: string; tamper: (store: Store, images: Awaited<ReturnType<typeof setUp>>) => Promise<void> | void; problem: string; message: RegExp }> = [
    { label: 'one byte of a layer', tamper: (store, { a }) => flipByte(store.blobPath(a.layer.digest)), problem: 'digest-mismatch', message: /layer sha256:\w+ does not match its digest/ },
    { label: 'one byte of the config', tamper: (store, { a }) => flipByte(store.blobPath(a.configDigest)), problem: 'digest-mismatch', message: /config sha256:\w+ does not match its digest/ },
    { label: 'one byte of the manifest', tamper: (store, { a }) => flipByte(store.blobPath(a.manifest.digest)), problem: 'digest-mismatch', message: /manifest sha256:\w+ does not match its digest/ },
    { label: 'one byte of the bundle blob', tamper: (store, { signedA }) => flipByte(store.blobPath(signedA.bundle.digest), 30), problem: 'digest-mismatch', message: /signature bundle sha256:\w+ does not match its digest/ },
    {
      label: 'one byte of the signature, the bundle re-hashed',
      tamper: async (store, { a, signedA }) => {
        const doc = JSON.parse((await store.readBlob(signedA.bundle.digest)).toString());
        const signature = Buffer.from(doc.dsseEnvelope.signatures[0].sig, 'base64');
        signature[signature.length - 1] ^= 1;
        doc.dsseEnvelope.signatures[0].sig = signature.toString('base64');
        await replaceSignature(store, a.manifest, Buffer.from(JSON.stringify(doc)));
      },
      problem: 'bad-signature',
      message: /does not verify with .*a\.pub: damaged or forged/,
    },
    {
      label: "another image's signature swapped in",
      tamper: async (store, { a, signedB }) => replaceSignature(store, a.manifest, await store.readBlob(signedB.bundle.digest)),
      problem: 'digest-mismatch',
      message: /is over sha256:\w+, not sha256:\w+ \(a signature of something else\)/,
    },
    {
      label: 'the signature dropped',
      tamper: (store, { a }) => store.updateIndex((index) => void (index.manifests = index.manifests.filter((entry) => entry.annotations?.['io.rootfs.subject'] !== a.manifest.digest))),
      problem: 'unsigned',
      message: /no signature/,
    },
    {
      label: 'signed by another key',
      tamper: async (store, { a }) => {
        await store.updateIndex((index) => void (index.manifests = index.manifests.filter((entry) => entry.annotations?.['io.rootfs.subject'] !== a.manifest.digest)));
        await signImage(store, 'a:1', await readSigningKey(other.key));
      },
      problem: 'wrong-key',
      message: /signed by another key \(hint .+\), not by .*a\.pub/,
    },
  ];
  async function setUp(store: Store) {
    const a = await buildImage(store, dir, { name: 'a:1', content: 'a\n' });
    const b = await buildImage(store, dir, { name: 'b:1', content: 'b\n' });
    const signing = await readSigningKey(key);
    return { a, b, signedA: await signImage(store, 'a:1', signing), signedB: await signImage(store, 'b:1', signing) };
  }
  const messages = new Set<string>();
  for (const { label, tamper, problem, message } of cases) {
    rmSync(storeDir, { recursive: true, force: true });
    await withStore(storeDir, async (store) => tamper(store, await setUp(store)));
    const before = snapshot(storeDir);
    const result = await rootfs(['--store', storeDir, 'verify', 'a:1', '--key', pub]);
    assert.equal(result.code, 3, `${label}: ${result.stderr}`);
    assert.match(result.stderr, message, label);
    assert.match(result.stderr, /^rootfs: a:1: /, `${label}: the message names the image`);
    assert.equal(result.stderr.trim().split('\n').length, 1, `${label}: one line`);
    const failure = await withStore(storeDir, async (store) => problemOf(verifyStoredImage(store, 'a:1', [await readVerifyingKey(pub)])));
    assert.equal(failure.problem, problem, label);
    assert.deepEqual(snapshot(storeDir), before, `${label}: the store is unchanged`);
    messages.add(result.stderr.replace(/sha256:\w+/g, 'D').replace(/hint \S+/g, 'H'));
  }
  assert.equal(messages.size, cases.length, 'every case has its own message');
});

test('verify REF without --key checks every blob against its digest and says the signature was not checked', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const forger = writeKeys(dir, 'forger');
  const built = await withStore(store, (s) => buildImage(s, dir, { name: 'base:1' }));
  const unsigned = await rootfs(['--store', store, 'verify', 'base:1']);
  assert.equal(unsigned.code, 0, unsigned.stderr);
  assert.match(unsigned.stdout.toString(), /^base:1: OK: sha256:[0-9a-f]{64}, 2 blobs checked; no signature/);
  assert.match(unsigned.stderr, /base:1: no signature \(give --key PUB to require one\)/);

  // A forger's signature is there: present, and said to be unchecked, never "signed".
  assert.equal((await rootfs(['--store', store, 'sign', 'base:1', '--key', forger.key])).code, 0);
  const signed = await rootfs(['--store', store, 'verify', 'base:1', '--json']);
  assert.equal(signed.code, 0, signed.stderr);
  assert.match(signed.stderr, /base:1: signature present, not checked \(give --key PUB\)/);
  const report = JSON.parse(signed.stdout.toString());
  assert.equal(report.signatureChecked, false);
  assert.equal(report.signaturesNotChecked, 1);
  assert.equal(report.blobsChecked, 2);
  const keyed = JSON.parse((await rootfs(['--store', store, 'verify', 'base:1', '--key', forger.pub, '--json'])).stdout.toString());
  assert.equal(keyed.signatureChecked, true);

  // A changed layer is found without a key, the store unchanged.
  flipByte(join(store, 'blobs/sha256', built.layer.digest.slice(7)));
  const before = snapshot(store);
  const changed = await rootfs(['--store', store, 'verify', 'base:1']);
  assert.equal(changed.code, 3, changed.stderr);
  assert.match(changed.stderr, /^rootfs: base:1: layer sha256:[0-9a-f]{64} does not match its digest: changed since it was stored, or damaged/);
  assert.deepEqual(snapshot(store), before);
});

test('verify DIR without --key says a signature beside the manifest was not checked, even a forged one', async (t) => {
  const dir = makeTempDir(t);
  const forger = writeKeys(dir, 'forger');
  const data = join(dir, 'data.bin');
  writeFileSync(data, Buffer.alloc(3000, 7));
  const parts = join(dir, 'parts');
  assert.equal((await rootfs(['split', data, '--size', '1024', '--force', '-o', parts, '--sign', forger.key])).code, 0);
  const result = await rootfs(['verify', parts, '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /data\.bin\.parts\.json\.sigstore\.json: signature present, not checked \(give --key PUB\)/);
  const report = JSON.parse(result.stdout.toString());
  assert.equal(report.signatureChecked, false);
  assert.deepEqual(report.signaturesNotChecked, [join(parts, 'data.bin.parts.json.sigstore.json')]);
  const plain = await rootfs(['verify', parts]);
  assert.match(plain.stdout.toString(), /data\.bin: OK \(3 parts, .*; signature present, not checked \(give --key PUB\)\)/);
  const joined = await rootfs(['join', parts, '-o', join(dir, 'joined.bin')]);
  assert.equal(joined.code, 0, joined.stderr);
  assert.match(joined.stderr, /data\.bin\.parts\.json\.sigstore\.json: signature present, not checked \(give --require-signed PUB\)/);
});

test('load -i DIR of a signed part set, with no key and no policy, says the signature was not checked', async (t) => {
  const dir = makeTempDir(t);
  const forger = writeKeys(dir, 'forger');
  const source = join(dir, 'source');
  await withStore(source, (s) => buildImage(s, dir, { name: 'base:1' }));
  const archive = join(dir, 'base.tar');
  assert.equal((await rootfs(['--store', source, 'save', 'base:1', '-o', archive])).code, 0);
  const parts = join(dir, 'parts');
  assert.equal((await rootfs(['split', archive, '--size', '1024', '--force', '-o', parts, '--sign', forger.key])).code, 0);
  const loaded = await rootfs(['--store', join(dir, 'store'), 'load', '-i', parts]);
  assert.equal(loaded.code, 0, loaded.stderr);
  assert.match(loaded.stderr, /base\.tar\.parts\.json\.sigstore\.json: signature present, not checked \(give --require-signed PUB\)/);
});

test('signatures by another key: each referrer read once, the most telling failure kept; more than maxSignatures refused before any is read', async (t) => {
  const dir = makeTempDir(t);
  const key = await readVerifyingKey(writeKeys(dir, 'site').pub);
  const other = await readSigningKey(writeKeys(dir, 'other').key);
  const blobs = new Map<string, Buffer>();
  const reads = new Map<string, number>();
  const put = (bytes: Buffer): { digest: `sha256:${string}`; size: number } => {
    const digest = sha256(bytes);
    blobs.set(digest, bytes);
    return { digest, size: bytes.length };
  };
  const source: BlobSource = {
    async readBlob(digest) {
      reads.set(digest, (reads.get(digest) ?? 0) + 1);
      const bytes = blobs.get(digest);
      if (!bytes) throw new Error(`no blob ${digest}`);
      return bytes;
    },
    openBlob() {
      throw new Error('content is not read');
    },
  };
  const subject: Descriptor = { mediaType: MediaType.ImageManifest, ...put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config: emptyDescriptor, layers: [] }))) };
  const referrers = Array.from({ length: maxSignatures }, (_, i) => {
    const bundle = put(signImageDigest(`app-${i}`, subject.digest, other));
    return { mediaType: MediaType.ImageManifest, ...put(Buffer.from(JSON.stringify(signatureManifest(subject, bundle)))), artifactType: BundleMediaType };
  });
  const refused = await problemOf(verifyImageSignature(source, 'app:1', subject, referrers, [key], { content: false }));
  assert.equal(refused.problem, 'wrong-key');
  assert.ok([...reads.values()].every((n) => n === 1), 'every blob read once');
  assert.equal(reads.size, 1 + 2 * maxSignatures, 'the manifest, and each signature manifest and bundle');

  reads.clear();
  const tooMany = [...referrers, { ...referrers[0]!, digest: sha256(Buffer.from('one more')) }];
  const bounded = await problemOf(verifyImageSignature(source, 'app:1', subject, tooMany, [key], { content: false }));
  assert.match(bounded.message, new RegExp(`^app:1: ${maxSignatures + 1} signatures refer to sha256:[0-9a-f]{64}, more than the ${maxSignatures} rootfs looks at`));
  assert.equal(reads.size, 1, 'refused before any signature is read');
});

test('sign racing rmi: an image removed while it is signed gets no signature of nothing (the image re-checked under the index lock)', async (t) => {
  const dir = makeTempDir(t);
  const key = await readSigningKey(writeKeys(dir, 'site').key);
  await withStore(join(dir, 'store'), async (store) => {
    const built = await buildImage(store, dir, { name: 'base:1' });
    // The deterministic race: rmi runs between sign's lookup and its recording, when the signature manifest is written.
    const putBlob = store.putBlob.bind(store);
    store.putBlob = async (data: Buffer) => {
      if (data.includes(BundleMediaType) && data.includes('"subject"')) await store.removeImage(built.manifest.digest);
      return putBlob(data);
    };
    await assert.rejects(signImage(store, 'base:1', key), (err: unknown) => err instanceof NotFoundError && /was removed from the store .* meanwhile/.test(err.message));
    const index = await store.readIndex();
    assert.deepEqual(index.manifests, [], 'neither the image nor a signature of it is left');
  });
});

test('keygen refuses an empty, numeric or directory -o (exit 2) and writes nothing', async (t) => {
  const dir = makeTempDir(t);
  for (const prefix of ['', '007', 'sub/', '.', dir]) {
    const result = await rootfs(['keygen', '-o', prefix], { cwd: dir, env: { ROOTFS_KEY_PASSWORD: '' } });
    assert.equal(result.code, 2, `-o ${JSON.stringify(prefix)}: ${result.stderr}`);
    assert.match(result.stderr, /^rootfs: keygen: -o .*give a file name prefix/);
  }
  assert.deepEqual(readdirSync(dir), [], 'no 0.key, .key or 7.key in the working directory');
});

test('keygen on a terminal asks again when the two passphrases differ, and encrypts with the one confirmed', async (t) => {
  if (!requireTools(t, 'script')) return;
  const dir = makeTempDir(t);
  const prefix = join(dir, 'site');
  // Typed ahead on a pty: a mismatch, then a confirmed pair; each answer goes to its own question.
  const result = await run('script', ['-qfec', `${process.execPath} ${cliPath} keygen -o ${prefix}`, '/dev/null'], { input: 'one\rtwo\rsame\rsame\r', env: { ROOTFS_KEY_PASSWORD: undefined } });
  const screen = result.stdout.toString();
  assert.equal(result.code, 0, screen);
  assert.match(screen, /The passphrases differ; try again\./);
  assert.match(screen, /Private key written to .*site\.key \(encrypted\)/);
  const key = await readSigningKey(`${prefix}.key`, async () => 'same');
  assert.equal(key.type, 'ecdsa-p256');
});

/** A DER element: tag, definite length, content. */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const length = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

test('an encrypted key asking for 2·10⁹ PBKDF2 iterations (or a huge scrypt N) is refused at once, exit 3 naming the file', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  await withStore(store, (s) => buildImage(s, dir, { name: 'base:1' }));
  const oid = (hex: string): Buffer => der(0x06, Buffer.from(hex, 'hex'));
  const int = (value: number): Buffer => der(0x02, Buffer.from(value.toString(16).padStart(10, '0'), 'hex'));
  const encrypted = (kdf: Buffer): Buffer =>
    der(0x30, der(0x30, oid('2a864886f70d01050d'), der(0x30, kdf, der(0x30, oid('60864801650304012a'), der(0x04, Buffer.alloc(16))))), der(0x04, Buffer.alloc(48)));
  const pem = (bytes: Buffer): string => `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${bytes.toString('base64')}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
  const cases = [
    { name: 'pbkdf2.key', kdf: der(0x30, oid('2a864886f70d01050c'), der(0x30, der(0x04, Buffer.alloc(8)), int(2e9))), message: /PBKDF2 iterations: 2000000000, more than the 1000000 rootfs runs/ },
    { name: 'scrypt.key', kdf: der(0x30, oid('2b06010401da47040b'), der(0x30, der(0x04, Buffer.alloc(8)), int(2 ** 30), int(8), int(1))), message: /scrypt N = 1073741824, more than the 1048576 rootfs runs/ },
  ];
  for (const { name, kdf, message } of cases) {
    const path = join(dir, name);
    writeFileSync(path, pem(encrypted(kdf)), { mode: 0o600 });
    const before = snapshot(store);
    const result = await rootfs(['--store', store, 'sign', 'base:1', '--key', path], { env: { ROOTFS_KEY_PASSWORD: 'x' } });
    assert.equal(result.code, 3, `${name}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`^rootfs: ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the key asks for`));
    assert.match(result.stderr, message);
    assert.deepEqual(snapshot(store), before);
  }
});

test('sign and verify make no network connection (run with no route but loopback)', async (t) => {
  if (!requireTools(t, 'unshare')) return;
  const unshare = await run('unshare', ['-n', 'true']);
  if (unshare.code !== 0) {
    skipLoudly(t, `SKIPPED: unshare -n cannot make a network namespace here (${unshare.stderr.trim()}): run as root or allow user namespaces`);
    return;
  }
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const { key, pub } = writeKeys(dir, 'a');
  await withStore(store, (s) => buildImage(s, dir, { name: 'base:1' }));
  const signed = await run('unshare', ['-n', process.execPath, cliPath, '--store', store, 'sign', 'base:1', '--key', key]);
  assert.equal(signed.code, 0, signed.stderr);
  const verified = await run('unshare', ['-n', process.execPath, cliPath, '--store', store, 'verify', 'base:1', '--key', pub]);
  assert.equal(verified.code, 0, verified.stderr);
});

test('keys: an OpenSSH key signs an image and its .pub verifies it; RSA keys and bad bundles are refused, each saying why', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  await withStore(store, (s) => buildImage(s, dir, { name: 'base:1' }));
  if ((await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')])).code === 0) {
    assert.equal((await rootfs(['--store', store, 'sign', 'base:1', '--key', join(dir, 'id')])).code, 0);
    const verified = await rootfs(['--store', store, 'verify', 'base:1', '--key', join(dir, 'id.pub')]);
    assert.equal(verified.code, 0, verified.stderr);
  }
  const { generateKeyPairSync } = await import('node:crypto');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'rsa.pub'), rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const refused = await rootfs(['--store', store, 'verify', 'base:1', '--key', join(dir, 'rsa.pub')]);
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /rsa\.pub: an RSA key: rootfs signs and verifies with ECDSA P-256 and Ed25519 keys only/);
  const reasons = (doc: unknown): string => {
    try {
      parseBundle(Buffer.from(JSON.stringify(doc)), 'b.json');
    } catch (err) {
      assert.ok(err instanceof VerificationError);
      return `${err.problem}: ${err.message}`;
    }
    return 'accepted';
  };
  const base = { mediaType: BundleMediaType, verificationMaterial: { publicKey: { hint: 'h' } } };
  assert.match(reasons({ ...base, dsseEnvelope: {} }), /^malformed: .*dsseEnvelope.payloadType is not a string/);
  assert.match(reasons({ ...base, verificationMaterial: { certificate: { rawBytes: 'AA==' } } }), /^unsupported-key: .*certificate \(keyless signing\)/);
  assert.match(reasons({ ...base, messageSignature: { messageDigest: { algorithm: 'SHA2_384', digest: 'AA==' }, signature: 'AA==' } }), /^malformed: .*"SHA2_384", not SHA2_256/);
  assert.match(reasons({ ...base, messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: 'AA==' }, signature: 'AA==' } }), /^malformed: .*1 bytes, not 32/);
  assert.match(reasons({ mediaType: 'text/plain' }), /^malformed: .*media type "text\/plain"/);
});
