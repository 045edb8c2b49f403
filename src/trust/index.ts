/** Signing and verifying images and part sets with local keys, offline (docs/trust.md). */
export { BundleMediaType, encodeBundle, parseBundle, type DsseBundle, type MessageBundle, type SigstoreBundle } from './bundle.js';
export { generateKeyPair, keyHint, keyTypes, passphraseFromEnv, readSigningKey, readVerifyingKey, sshPublicLine, writeKeyPair, type KeyType, type PassphraseSource, type SigningKey, type VerifyingKey } from './keys.js';
export { signBytes, signImageDigest, signMessage, verifyBytes, verifyMessage } from './message.js';
export { CosignSignPredicate, InTotoPayloadType, preAuthEncoding } from './statement.js';
export { bundlePath, removePartManifestSignatures, uncheckedPartManifest, signPartManifest, sshsigPath, verifyPartManifest, type VerifiedPartManifest } from './part-set.js';
export { signImage, signImages, type ImageSignature } from './sign.js';
export { signSshsig, sshsigNamespace, verifySshsig } from './sshsig.js';
export { checkStoredImage, maxSignatures, verifyImageSignature, verifyStoredImage, type BlobSource, type CheckedImage, type VerifiedImage, type VerifyOptions } from './verify.js';
export { readPolicyFile, requireSigned, trustPolicy, type TrustPolicy } from './policy.js';
