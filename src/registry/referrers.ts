/**
 * Where a registry keeps an image's referrers (OCI 1.1 distribution spec):
 * behind the referrers API (`GET /v2/NAME/referrers/DIGEST`), or, on a
 * registry without it (docker-registry 2.8, which answers a referrer's PUT
 * without an OCI-Subject header), in the referrers tag schema: an index at
 * tag `sha256-<hex of the subject>` that clients keep up to date.
 */
import { InvalidInputError, NotFoundError, printable } from '../errors.js';
import { digestHex } from '../oci/digest.js';
import { MediaType, type Descriptor, type Digest, type Index } from '../oci/types.js';
import { parseIndex, parseJson } from '../oci/validate.js';
import type { RegistryClient } from './client.js';

/** The tag of the referrers tag schema for subject. */
export function referrersTag(subject: Digest): string {
  return `sha256-${digestHex(subject)}`;
}

/**
 * The descriptors of subject's referrers: from the API, else from the
 * fallback tag; none when neither has any. The fallback tag is anyone's to
 * push: one that holds no referrers index is skipped with a warning, not a
 * reason to fail every pull of the repository.
 */
export async function listReferrers(client: RegistryClient, repository: string, subject: Digest, onWarning: (message: string) => void): Promise<Descriptor[]> {
  const listed = (await client.getReferrers(repository, subject)) ?? (await fallbackIndex(client, repository, subject, onWarning));
  return listed?.manifests ?? [];
}

/**
 * Adds referrers to subject's fallback tag: read the index there (if any),
 * add the descriptors it lacks, put it back. Not atomic (the schema has no
 * compare-and-swap): two clients adding at once can lose one addition, as
 * with every client of this schema.
 */
export async function addToReferrersTag(client: RegistryClient, repository: string, subject: Digest, referrers: Descriptor[]): Promise<void> {
  const index: Index = (await fallbackIndex(client, repository, subject)) ?? { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
  const missing = referrers.filter((referrer) => !index.manifests.some((listed) => listed.digest === referrer.digest));
  if (missing.length === 0) return;
  index.manifests.push(...missing);
  const bytes = Buffer.from(JSON.stringify(index));
  await client.putManifest(repository, referrersTag(subject), bytes, MediaType.ImageIndex);
}

/**
 * The index at subject's fallback tag. What is there and is not an index
 * is skipped when onMalformed is given (a pull: saying so), else an error
 * (a push, which would otherwise replace what it cannot read).
 */
async function fallbackIndex(client: RegistryClient, repository: string, subject: Digest, onMalformed?: (message: string) => void): Promise<Index | undefined> {
  let found: { bytes: Buffer; mediaType: string };
  try {
    found = await client.getManifest(repository, referrersTag(subject));
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    if (onMalformed && err instanceof InvalidInputError) {
      onMalformed(`${err.message}; the referrers fallback tag is skipped`);
      return undefined;
    }
    throw err;
  }
  const where = `${client.registry}/${repository}:${referrersTag(subject)}`;
  if (found.mediaType !== MediaType.ImageIndex) {
    onMalformed?.(`${where}: a ${printable(found.mediaType || '(no media type)').slice(0, 100)}, not a referrers index; skipped`);
    return undefined;
  }
  try {
    return parseIndex(parseJson(found.bytes.toString('utf8'), where), where);
  } catch (err) {
    if (!onMalformed || !(err instanceof InvalidInputError)) throw err;
    onMalformed(`${err.message}; not a referrers index, skipped`);
    return undefined;
  }
}
