/**
 * The OCI image-spec documents, as types. Field names and shapes follow the
 * spec (image-spec v1.1) so that JSON round-trips without renaming; unknown
 * fields must survive a read-modify-write, hence the index signatures.
 */

export const MediaType = {
  ImageIndex: 'application/vnd.oci.image.index.v1+json',
  ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
  ImageConfig: 'application/vnd.oci.image.config.v1+json',
  LayerTar: 'application/vnd.oci.image.layer.v1.tar',
  LayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  LayerTarZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  /** The config of an artifact that needs none (image-spec 1.1 "empty descriptor"): the two bytes `{}`. */
  Empty: 'application/vnd.oci.empty.v1+json',
} as const;

/** The empty descriptor of image-spec 1.1: `{}`, its digest and size, fixed by the spec. */
export const emptyDescriptor = { mediaType: MediaType.Empty, digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 } as const;

/** Annotation keys with meaning to us and our peers. */
export const Annotation = {
  /** The tag of an index.json entry in an OCI layout (skopeo's oci:DIR:TAG). */
  RefName: 'org.opencontainers.image.ref.name',
  /** Full image name on index entries of Docker 25+ archives and containerd. */
  ContainerdImageName: 'io.containerd.image.name',
  Created: 'org.opencontainers.image.created',
  /** On an image made on top of another (image-spec annotations): the base's name and manifest digest, for rebase. */
  BaseName: 'org.opencontainers.image.base.name',
  BaseDigest: 'org.opencontainers.image.base.digest',
  /**
   * On a store index.json entry that is a referrer (a manifest whose `subject`
   * is an image: a signature, an SBOM, an attestation): the subject's digest,
   * so the referrers of an image are found without reading every manifest.
   * Ours, and only in the store: archives list referrers as plain untagged entries.
   */
  Subject: 'io.rootfs.subject',
  /**
   * On a manifest whose tree was read from a directory by us (import DIR, import/commit DIR --base): when the
   * walk began (RFC 3339, nanoseconds) and which directory of which host it read. A re-capture of that
   * directory trusts a file whose metadata matches only when its inode has not changed since (docs/incremental.md).
   */
  CaptureStarted: 'io.rootfs.capture.started',
  CaptureRoot: 'io.rootfs.capture.root',
} as const;

export type Digest = `sha256:${string}`;

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  [extra: string]: unknown;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [extra: string]: unknown;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [extra: string]: unknown;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The runtime part of an image config (`config` in the JSON). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** Docker extensions, kept because `docker import -c` accepts them. */
  OnBuild?: string[] | null;
  Healthcheck?: HealthConfig;
  Shell?: string[];
  ArgsEscaped?: boolean;
  [extra: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
  [extra: string]: unknown;
}

export interface OciLayoutFile {
  imageLayoutVersion: string;
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ImageIndex || mediaType === MediaType.DockerManifestList;
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ImageManifest || mediaType === MediaType.DockerManifest;
}

/** The compression a layer media type implies, or undefined if it is not a layer type we know. */
export function layerCompression(mediaType: string): 'none' | 'gzip' | 'zstd' | undefined {
  switch (mediaType) {
    case MediaType.LayerTar:
    case MediaType.DockerLayerTar:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    case MediaType.LayerTarGzip:
    case MediaType.DockerLayerGzip:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return 'gzip';
    case MediaType.LayerTarZstd:
    case 'application/vnd.docker.image.rootfs.diff.tar.zstd':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    default:
      return undefined;
  }
}

export function ociLayerMediaType(compression: 'none' | 'gzip' | 'zstd'): string {
  return compression === 'none' ? MediaType.LayerTar : compression === 'gzip' ? MediaType.LayerTarGzip : MediaType.LayerTarZstd;
}

/** A descriptor without the name annotations (an archive's, or another tag's). */
export function withoutNameAnnotations(descriptor: Descriptor): Descriptor {
  const { annotations, ...rest } = descriptor;
  const kept = Object.entries(annotations ?? {}).filter(([key]) => key !== Annotation.RefName && key !== Annotation.ContainerdImageName);
  return kept.length > 0 ? { ...rest, annotations: Object.fromEntries(kept) } : rest;
}
