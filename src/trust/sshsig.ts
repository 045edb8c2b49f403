/**
 * OpenSSH's SSHSIG signatures (PROTOCOL.sshsig), what `ssh-keygen -Y sign`
 * writes and `ssh-keygen -Y verify` checks: the armored blob holds the
 * signer's public key, a namespace (ours: "rootfs", so a signature made for
 * git or e-mail cannot be passed off as one over a part set), the hash
 * algorithm and the signature over "SSHSIG" ‖ namespace ‖ reserved ‖ hash
 * algorithm ‖ H(message).
 */
import { createHash, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { VerificationError } from '../errors.js';
import { sshKeyName, sshPublicBlob, type SigningKey, type VerifyingKey } from './keys.js';
import { SshReader, sshMpint, sshString, sshUint32 } from './ssh-wire.js';

export const sshsigNamespace = 'rootfs';
const magic = Buffer.from('SSHSIG', 'latin1');
const begin = '-----BEGIN SSH SIGNATURE-----';
const end = '-----END SSH SIGNATURE-----';
/** What ssh-keygen uses by default; sha256 is also allowed by the format and accepted here. */
const hashAlgorithm = 'sha512';

function signedData(namespace: string, hash: string, message: Buffer): Buffer {
  return Buffer.concat([magic, sshString(namespace), sshString(''), sshString(hash), sshString(createHash(hash).update(message).digest())]);
}

/** The armored signature of message, as ssh-keygen -Y sign -n NAMESPACE writes it (lines of 70 base64 characters). */
export function signSshsig(message: Buffer, key: SigningKey, namespace = sshsigNamespace): string {
  const data = signedData(namespace, hashAlgorithm, message);
  let blob: Buffer;
  if (key.type === 'ed25519') blob = cryptoSign(null, data, key.privateKey);
  else {
    const raw = cryptoSign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
    blob = Buffer.concat([sshMpint(raw.subarray(0, 32)), sshMpint(raw.subarray(32))]);
  }
  const signature = Buffer.concat([sshString(sshKeyName(key.type)), sshString(blob)]);
  const whole = Buffer.concat([magic, sshUint32(1), sshString(sshPublicBlob(key)), sshString(namespace), sshString(''), sshString(hashAlgorithm), sshString(signature)]);
  const lines = whole.toString('base64').match(/.{1,70}/g) ?? [];
  return `${begin}\n${lines.join('\n')}\n${end}\n`;
}

/** Checks that armored is an SSHSIG by key over message in namespace; each failure is its own VerificationError naming subject. */
export function verifySshsig(armored: string, message: Buffer, key: VerifyingKey, subject: string, where: string, namespace = sshsigNamespace): void {
  const fail = (detail: string): never => {
    throw new VerificationError(subject, 'malformed', `${where} is not a valid SSH signature: ${detail}`);
  };
  const body = new RegExp(`${begin}([\\s\\S]*?)${end}`).exec(armored);
  if (!body) return fail(`no ${begin} … ${end} block`);
  const reader = new SshReader(Buffer.from(body[1]!.replace(/\s+/g, ''), 'base64'), fail);
  if (!reader.bytes(magic.length).equals(magic)) return fail('no SSHSIG preamble');
  const version = reader.uint32();
  if (version !== 1) return fail(`version ${version}, not 1`);
  const signer = reader.string();
  const signedNamespace = reader.text();
  reader.string(); // reserved
  const hash = reader.text();
  const signature = new SshReader(reader.string(), fail);
  if (signedNamespace !== namespace) {
    throw new VerificationError(subject, 'bad-signature', `${where} was made for namespace ${JSON.stringify(signedNamespace)}, not ${JSON.stringify(namespace)} (sign with ssh-keygen -Y sign -n ${namespace})`);
  }
  if (hash !== 'sha512' && hash !== 'sha256') return fail(`hash algorithm ${hash}`);
  if (!signer.equals(sshPublicBlob(key))) {
    throw new VerificationError(subject, 'wrong-key', `${where} is signed by another key, not by ${key.path}`);
  }
  const type = signature.text();
  if (type !== sshKeyName(key.type)) return fail(`a ${type} signature from a ${sshKeyName(key.type)} key`);
  const blob = signature.string();
  const data = signedData(namespace, hash, message);
  let good: boolean;
  if (key.type === 'ed25519') good = blob.length === 64 && cryptoVerify(null, data, key.publicKey, blob);
  else {
    const parts = new SshReader(blob, fail);
    const raw = Buffer.concat([parts.mpint(32), parts.mpint(32)]);
    good = cryptoVerify('sha256', data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, raw);
  }
  if (!good) throw new VerificationError(subject, 'bad-signature', `${where} does not verify with ${key.path}: the file or the signature was changed after signing`);
}
