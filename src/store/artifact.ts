/**
 * An OCI 1.1 artifact attached to an image in the store (a signature, an
 * SBOM): an artifact manifest (artifactType, config = the empty descriptor,
 * one layer = the artifact's blob, already stored) naming the image's
 * manifest or index as its subject, recorded as a referrer of it.
 */
import { MediaType, emptyDescriptor, type Descriptor, type Digest, type Manifest } from '../oci/types.js';
import type { Store } from './store.js';

/**
 * Writes the manifest, records it as subject's referrer, and returns the entry
 * recorded. With `image`, that image is looked for again under the index lock:
 * an rmi since it was found must not leave an artifact of nothing.
 */
export async function attachArtifact(store: Store, subject: Descriptor, artifactType: string, layer: Descriptor, annotations: Record<string, string>, image?: Digest): Promise<Descriptor> {
  await store.putBlob(Buffer.from('{}'));
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.ImageManifest, artifactType, config: { ...emptyDescriptor }, layers: [layer], subject, annotations };
  const written = await store.putBlob(Buffer.from(JSON.stringify(manifest), 'utf8'));
  // Registries copy a referrer's artifactType and annotations into the referrers list; the store entry carries them the same way.
  const referrer: Descriptor = { mediaType: MediaType.ImageManifest, digest: written.digest, size: written.size, artifactType, annotations };
  await store.addReferrer(referrer, subject.digest, { image });
  return referrer;
}
