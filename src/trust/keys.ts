/**
 * Signing and verifying keys, read from the files people have: PEM (PKCS#8
 * private keys, encrypted or not, SPKI public keys such as cosign.pub) and
 * OpenSSH (`ssh-ed25519 …` / `ecdsa-sha2-nistp256 …` public lines and
 * unencrypted openssh-key-v1 private keys, which node:crypto cannot read, so
 * they are parsed here into JWK). Two algorithms only, ECDSA P-256 and
 * Ed25519: what cosign generates and what SSH admins hold.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { InvalidInputError, UsageError, VerificationError } from '../errors.js';
import { writeOutputFile } from '../io/output.js';
import { pathExists, readMetadata } from '../io/metadata.js';
import { SshReader, sshString } from './ssh-wire.js';

export type KeyType = 'ecdsa-p256' | 'ed25519';
export const keyTypes: readonly KeyType[] = ['ecdsa-p256', 'ed25519'];

/** Where a key came from decides the signature format a part set gets: SSHSIG for SSH keys, a Sigstore bundle for PEM ones. */
export type KeyFormat = 'pem' | 'ssh';

export interface VerifyingKey {
  type: KeyType;
  format: KeyFormat;
  publicKey: KeyObject;
  /** The file it was read from, for messages. */
  path: string;
}

export interface SigningKey extends VerifyingKey {
  privateKey: KeyObject;
}

/** Asked for an encrypted key's passphrase; undefined when there is none to give. */
export type PassphraseSource = () => Promise<string | undefined>;

/** The passphrase from ROOTFS_KEY_PASSWORD, as cosign reads COSIGN_PASSWORD. */
export function passphraseFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.ROOTFS_KEY_PASSWORD;
}

export async function readSigningKey(path: string, passphrase?: PassphraseSource): Promise<SigningKey> {
  const text = (await readMetadata(path, 'key', 'a private key file')).toString('utf8');
  if (text.includes('-----BEGIN OPENSSH PRIVATE KEY-----')) return openSshPrivateKey(text, path);
  if (/-----BEGIN ENCRYPTED (?:SIGSTORE|COSIGN) PRIVATE KEY-----/.test(text)) {
    throw new VerificationError(path, 'unsupported-key', 'a cosign-encrypted key (scrypt + secretbox), which rootfs does not read: make a PKCS#8 PEM key with rootfs keygen, or give an OpenSSH key');
  }
  if (!text.includes('-----BEGIN ')) throw new VerificationError(path, 'unsupported-key', 'not a PEM or OpenSSH private key');
  const encrypted = text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
  if (encrypted) checkKdfCost(text, path);
  const secret = encrypted ? await passphrase?.() : undefined;
  if (encrypted && secret === undefined) throw new UsageError(`${path}: the key is encrypted: set ROOTFS_KEY_PASSWORD or run on a terminal to be asked`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: text, format: 'pem', ...(secret !== undefined ? { passphrase: secret } : {}) });
  } catch (err) {
    if (encrypted) throw new UsageError(`${path}: cannot decrypt the key: wrong passphrase?`, { cause: err });
    throw new VerificationError(path, 'unsupported-key', 'not a private key node:crypto can read (PKCS#8 or SEC1 PEM)', { cause: err });
  }
  const publicKey = createPublicKey(privateKey);
  return { type: keyTypeOf(publicKey, path), format: 'pem', publicKey, privateKey, path };
}

export async function readVerifyingKey(path: string): Promise<VerifyingKey> {
  const text = (await readMetadata(path, 'key', 'a public key file')).toString('utf8').trim();
  const ssh = /^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa|ssh-dss|ecdsa-sha2-nistp\d+|sk-\S+)\s+([A-Za-z0-9+/=]+)/.exec(text);
  if (ssh) {
    sshKeyType(ssh[1]!, path);
    // The type is the blob's, not the line's label: the two could disagree in a hostile file.
    const publicKey = fromSshPublicBlob(Buffer.from(ssh[2]!, 'base64'), path);
    return { type: keyTypeOf(publicKey, path), format: 'ssh', publicKey, path };
  }
  if (text.includes('PRIVATE KEY-----')) throw new UsageError(`${path}: a private key: give the public key (.pub) to verify`);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: text, format: 'pem' });
  } catch (err) {
    throw new VerificationError(path, 'unsupported-key', 'not a PEM public key (SPKI, as cosign.pub) or an OpenSSH public key line', { cause: err });
  }
  return { type: keyTypeOf(publicKey, path), format: 'pem', publicKey, path };
}

/** The key's hint in a Sigstore bundle: base64 of the SHA-256 of its DER SubjectPublicKeyInfo, so a bundle says which key made it. */
export function keyHint(publicKey: KeyObject): string {
  let hint = hints.get(publicKey);
  if (hint === undefined) {
    hint = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
    hints.set(publicKey, hint);
  }
  return hint;
}

/** A key's hint is asked for at every signature that fails with it: export and hash it once. */
const hints = new WeakMap<KeyObject, string>();

/** The key in OpenSSH wire form (what SSHSIG embeds and a `.pub` line carries in base64). */
export function sshPublicBlob(key: VerifyingKey): Buffer {
  const jwk = key.publicKey.export({ format: 'jwk' });
  if (key.type === 'ed25519') return Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.from(jwk.x!, 'base64url'))]);
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(point)]);
}

export function sshKeyName(type: KeyType): string {
  return type === 'ed25519' ? 'ssh-ed25519' : 'ecdsa-sha2-nistp256';
}

/** The public key as an OpenSSH line, for allowed_signers files and messages. */
export function sshPublicLine(key: VerifyingKey): string {
  return `${sshKeyName(key.type)} ${sshPublicBlob(key).toString('base64')}`;
}

/** A new key pair as PEM: PKCS#8 private key (encrypted with AES-256-CBC when a passphrase is given) and SPKI public key. */
export function generateKeyPair(type: KeyType, passphrase?: string): { privatePem: string; publicPem: string } {
  const pair = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem', ...(passphrase ? { cipher: 'aes-256-cbc', passphrase } : {}) }) as string;
  return { privatePem, publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

/**
 * keygen: PREFIX.key (mode 0600: only its owner may read it) and PREFIX.pub,
 * each written whole or not at all. Existing files are kept unless
 * overwrite, so a key in use is not lost to a repeated command.
 */
export async function writeKeyPair(prefix: string, type: KeyType, passphrase?: string, overwrite = false): Promise<{ privatePath: string; publicPath: string }> {
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  if (!overwrite) {
    for (const path of [privatePath, publicPath]) {
      if (await pathExists(path)) throw new UsageError(`${path} exists: give another -o PREFIX, or --force to replace the key pair`);
    }
  }
  const { privatePem, publicPem } = generateKeyPair(type, passphrase);
  await writeOutputFile(privatePath, privatePem, { mode: 0o600 });
  await writeOutputFile(publicPath, publicPem);
  return { privatePath, publicPath };
}


/**
 * The most key-derivation work an encrypted PKCS#8 key may ask for
 * (docs/trust.md): the iteration count is the key file's to choose, and a
 * file asking for 2·10⁹ PBKDF2 rounds would hold `sign` for hours before
 * the passphrase could even be found wrong. OpenSSL writes 2048 rounds, and
 * OWASP asks 600,000 of PBKDF2-HMAC-SHA256; scrypt's bounds allow what
 * OpenSSL's own memory limit (32 MiB) lets through and more.
 */
export const kdfLimits = { pbkdf2Iterations: 1_000_000, scryptN: 1 << 20, scryptR: 16, scryptP: 16 } as const;

const oids = {
  pbes2: '2a864886f70d01050d',
  pbkdf2: '2a864886f70d01050c',
  scrypt: '2b06010401da47040b',
};

/**
 * Reads the KDF parameters of an ENCRYPTED PRIVATE KEY (RFC 5958
 * EncryptedPrivateKeyInfo: PBES2 with PBKDF2 or scrypt, or a PBES1 or
 * PKCS#12 scheme, whose parameters are a salt and an iteration count) and
 * refuses one beyond kdfLimits, before any passphrase is asked for.
 */
function checkKdfCost(text: string, path: string): void {
  const fail = (detail: string): never => {
    throw new InvalidInputError(path, detail);
  };
  const body = /-----BEGIN ENCRYPTED PRIVATE KEY-----([\s\S]*?)-----END ENCRYPTED PRIVATE KEY-----/.exec(text);
  if (!body) return fail('no END ENCRYPTED PRIVATE KEY line');
  const unreadable = (): never => fail('not an encrypted PKCS#8 key (EncryptedPrivateKeyInfo) that can be read');
  const info = derChildren(derRead(Buffer.from(body[1]!.replace(/\s+/g, ''), 'base64'), 0x30, unreadable), unreadable);
  const [algorithm, parameters] = derChildren(info[0] ?? unreadable(), unreadable);
  const over = (what: string, value: number, limit: number): void => {
    if (value > limit) fail(`the key asks for ${what} ${value === Infinity ? 'beyond 2^48' : value}, more than the ${limit} rootfs runs (docs/trust.md): re-encrypt it with openssl pkcs8 -topk8 -v2 aes-256-cbc`);
  };
  if (!algorithm || !parameters) return unreadable();
  if (algorithm.tag !== 0x06) return unreadable();
  if (algorithm.content.toString('hex') !== oids.pbes2) {
    // PBES1 and PKCS#12 schemes: a salt and an iteration count.
    const [, iterations] = derChildren(parameters, unreadable);
    if (iterations?.tag === 0x02) over('a PBE iteration count of', derInteger(iterations.content), kdfLimits.pbkdf2Iterations);
    return;
  }
  const [kdf] = derChildren(parameters, unreadable);
  const [kdfOid, kdfParameters] = derChildren(kdf ?? unreadable(), unreadable);
  if (!kdfOid || !kdfParameters) return unreadable();
  const numbers = derChildren(kdfParameters, unreadable).filter((child) => child.tag === 0x02).map((child) => derInteger(child.content));
  const kdfName = kdfOid.content.toString('hex');
  if (kdfName === oids.pbkdf2) over('PBKDF2 iterations:', numbers[0] ?? 0, kdfLimits.pbkdf2Iterations);
  else if (kdfName === oids.scrypt) {
    over('scrypt N =', numbers[0] ?? 0, kdfLimits.scryptN);
    over('scrypt r =', numbers[1] ?? 0, kdfLimits.scryptR);
    over('scrypt p =', numbers[2] ?? 0, kdfLimits.scryptP);
  }
}

interface DerNode {
  tag: number;
  content: Buffer;
}

/** One DER element at the start of bytes, of the expected tag; its content. */
function derRead(bytes: Buffer, tag: number, fail: () => never): DerNode {
  const [node] = derElements(bytes, fail);
  if (!node || node.tag !== tag) return fail();
  return node;
}

function derChildren(node: DerNode, fail: () => never): DerNode[] {
  if (node.tag !== 0x30) return fail();
  return derElements(node.content, fail);
}

/** The DER elements one after another in bytes (definite lengths only, as DER has). */
function derElements(bytes: Buffer, fail: () => never): DerNode[] {
  const out: DerNode[] = [];
  for (let at = 0; at < bytes.length; ) {
    const tag = bytes[at++]!;
    let length = bytes[at++] ?? fail();
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0 || octets > 4 || at + octets > bytes.length) return fail();
      length = bytes.readUIntBE(at, octets);
      at += octets;
    }
    if (at + length > bytes.length) return fail();
    out.push({ tag, content: bytes.subarray(at, at + length) });
    at += length;
  }
  return out;
}

/** A non-negative DER INTEGER; Infinity past what a number holds exactly. */
function derInteger(content: Buffer): number {
  const digits = content[0] === 0 ? content.subarray(1) : content;
  if (digits.length > 6) return Infinity;
  return digits.length === 0 ? 0 : digits.readUIntBE(0, digits.length);
}

function keyTypeOf(key: KeyObject, path: string): KeyType {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  const what = key.asymmetricKeyType === 'ec' ? `an EC key on ${key.asymmetricKeyDetails?.namedCurve}` : `an ${key.asymmetricKeyType?.toUpperCase()} key`;
  throw new VerificationError(path, 'unsupported-key', `${what}: rootfs signs and verifies with ECDSA P-256 and Ed25519 keys only`);
}

function sshKeyType(name: string, path: string): KeyType {
  if (name === 'ssh-ed25519') return 'ed25519';
  if (name === 'ecdsa-sha2-nistp256') return 'ecdsa-p256';
  throw new VerificationError(path, 'unsupported-key', `an ${name} key: rootfs verifies ssh-ed25519 and ecdsa-sha2-nistp256 keys only`);
}

function sshFailer(path: string): (detail: string) => never {
  return (detail) => {
    throw new VerificationError(path, 'malformed', `not a valid OpenSSH key: ${detail}`);
  };
}

/** An OpenSSH public key blob → a KeyObject (through JWK, the one form node:crypto builds raw keys from). */
export function fromSshPublicBlob(blob: Buffer, path: string): KeyObject {
  const fail = sshFailer(path);
  const reader = new SshReader(blob, fail);
  const name = reader.text();
  const type = sshKeyType(name, path);
  return createPublicKey({ key: type === 'ed25519' ? ed25519Jwk(reader.string(), fail) : p256Jwk(reader.text(), reader.string(), fail), format: 'jwk' });
}

function ed25519Jwk(publicBytes: Buffer, fail: (detail: string) => never, seed?: Buffer): JsonWebKey {
  if (publicBytes.length !== 32) return fail(`an Ed25519 public key of ${publicBytes.length} bytes, not 32`);
  return { kty: 'OKP', crv: 'Ed25519', x: publicBytes.toString('base64url'), ...(seed ? { d: seed.toString('base64url') } : {}) };
}

/** The curve name and uncompressed point of an ecdsa-sha2-nistp256 key (and, given, its private scalar). */
function p256Jwk(curve: string, point: Buffer, fail: (detail: string) => never, privateScalar?: Buffer): JsonWebKey {
  if (curve !== 'nistp256') return fail(`curve ${curve}, not nistp256`);
  if (point.length !== 65 || point[0] !== 4) return fail('not an uncompressed P-256 point');
  return {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33).toString('base64url'),
    ...(privateScalar ? { d: privateScalar.toString('base64url') } : {}),
  };
}

/**
 * openssh-key-v1 (PROTOCOL.key in OpenSSH): magic, cipher, kdf, kdf
 * options, key count, public key, then the private section, plain when the
 * cipher is "none". An encrypted one would need bcrypt_pbkdf, which Node
 * lacks: refused with what to do instead.
 */
function openSshPrivateKey(text: string, path: string): SigningKey {
  const fail = sshFailer(path);
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!body) return fail('no END line');
  const data = Buffer.from(body[1]!.replace(/\s+/g, ''), 'base64');
  const magic = Buffer.from('openssh-key-v1\0', 'latin1');
  if (!data.subarray(0, magic.length).equals(magic)) return fail('no openssh-key-v1 header');
  const reader = new SshReader(data.subarray(magic.length), fail);
  const cipher = reader.text();
  reader.string(); // kdf name
  reader.string(); // kdf options
  if (cipher !== 'none') {
    throw new UsageError(`${path}: the OpenSSH key is encrypted with a passphrase, which rootfs cannot undo: sign with a decrypted copy (ssh-keygen -p -N '' -f COPY) or a PEM key`);
  }
  if (reader.uint32() !== 1) return fail('more than one key in the file');
  reader.string(); // public key, repeated in the private section
  const section = new SshReader(reader.string(), fail);
  if (section.uint32() !== section.uint32()) return fail('check numbers differ (a corrupt file)');
  const type = sshKeyType(section.text(), path);
  let jwk: JsonWebKey;
  if (type === 'ed25519') {
    const publicBytes = section.string();
    const secret = section.string();
    if (secret.length !== 64) return fail(`an Ed25519 private key of ${secret.length} bytes, not 64`);
    jwk = ed25519Jwk(publicBytes, fail, secret.subarray(0, 32));
  } else {
    const curve = section.text();
    const point = section.string();
    jwk = p256Jwk(curve, point, fail, section.mpint(32));
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw new VerificationError(path, 'malformed', 'not a valid OpenSSH key: its numbers are not a key on its curve', { cause: err });
  }
  return { type, format: 'ssh', publicKey: createPublicKey(privateKey), privateKey, path };
}
