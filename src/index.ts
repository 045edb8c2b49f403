/**
 * The library's face: what a program that imports `rootfs` may call, the
 * operations the CLI's commands call, with their typed errors and the OCI
 * data model. Everything else under src/ is internal and may change; this
 * file is the one package.json `exports` names. It sits above the operations
 * and beside nothing: src/cli does not import it, and it imports no file of
 * src/cli (test/architecture.test.ts).
 */

// Errors: every failure is one of these, carrying its exit code.
export { ClosedPipeError, DigestMismatchError, ExitCode, HostIoError, InvalidInputError, LockedError, NetworkError, NotFoundError, RootfsError, UsageError, VerificationError, type VerificationProblem } from './errors.js';

// The OCI data model.
export { Annotation, MediaType, type ContainerConfig, type Descriptor, type Digest, type HealthConfig, type HistoryEntry, type ImageConfig, type Index, type Manifest, type OciLayoutFile, type Platform } from './oci/types.js';
export { familiarName, parseReference, type ImageReference } from './oci/reference.js';
export { formatPlatform, hostPlatform, parsePlatform } from './oci/platform.js';

// The store: open it, find, list, tag, remove, collect.
export { Store, defaultStoreDir, type StoreEntry } from './store/store.js';
export { findImage, resolveImage, type FoundImage, type ResolvedImage } from './store/resolve.js';
export { imageFilter, listImages, type ImageFilter, type ImageRow, type ListImagesOptions } from './store/images.js';
export { inspectImages, type InspectedImage } from './store/inspect.js';
export { removeImages, type RemovedImages } from './store/remove.js';
export { collectGarbage, type GcResult } from './store/gc.js';

// Making images: pack a tree, import it, derive from a stored image.
export { packTo } from './pack/output.js';
export { packTree, type PackEvents, type PackSummary, type PackWarning } from './pack/pack.js';
export type { TreeOptions } from './pack/tree.js';
export { importImage, openDeltaSource, openImportSource, type DeltaImport, type ImportEvents, type ImportImageOptions, type ImportSource, type ImportSourceOptions, type SingleLayerImport } from './image/import-source.js';
export { openTree, pathKind, type TreeChoice, type TreeInput } from './image/tree-input.js';
export { importDirectory, importMembers, importTarball, type DirectoryImportResult, type ImportedImage, type ImportOptions, type ImportResult, type LayerCompression } from './image/import.js';
export { commitDelta, type DeltaOptions, type DeltaResult } from './image/recapture.js';
export { deriveImage, type Derivation, type DerivedImage } from './image/derive.js';
export { appendLayer, openAppendInput, type AppendInput, type AppendOptions } from './image/append.js';
export { rebaseImage, type RebaseOptions, type RebaseResult } from './image/rebase.js';
export { squashImage, type SquashOptions, type SquashResult } from './image/squash.js';

// Reading images out: export, unpack, diff, history.
export { exportImage, type ExportResult } from './image/export.js';
export type { OutputTarget } from './io/output.js';
export { unpackImage, type UnpackOptions, type UnpackResult } from './image/unpack.js';
export { diffImage, diffImagePackages, diffStat, diffTrees, type DiffOptions, type TreeDifference } from './image/diff.js';
export { imageHistory, type HistoryRow } from './image/history.js';

// Moving images: archives, layouts, registries, part sets.
export { parseAddress, parseTransportAddress, type ArchiveAddress, type FormatName, type RegistryAddress, type TransportAddress } from './transports/address.js';
export { saveImages, type DeltaOutcome, type SaveOptions, type SaveResult } from './transports/save.js';
export type { CompressionChoice } from './compress/index.js';
export { describeArchive, loadArchive, type CarriedLayer, type LoadOptions, type LoadResult } from './transports/load.js';
export { copyImages, type CopyOptions, type CopyResult } from './transports/copy.js';
export { pullImage, type PullOptions } from './registry/pull.js';
export type { MovedImage } from './oci/image-ends.js';
export { pushImage, type PushOptions } from './registry/push.js';
export { splitToParts, type SplitOptions, type SplitResult } from './split/split.js';
export { joinPartSet } from './split/join.js';
export { namesPartSet } from './split/manifest.js';
export { partSetProblem, partSetRepairable, parityFilesProblem, verifyPartSet, type RepairEvents, type ParityStatus, type VerifyResult } from './split/read.js';

// Trust: keys, signing, verifying.
export { generateKeyPair, readSigningKey, readVerifyingKey, writeKeyPair, type SigningKey, type VerifyingKey } from './trust/keys.js';
export { signImage, signImages, type ImageSignature } from './trust/sign.js';
export { checkStoredImage, verifyStoredImage, type CheckedImage, type VerifiedImage, type VerifyOptions } from './trust/verify.js';

// SBOMs.
export { attachSbom, imageSbom, treeSbom, type CapturedSbom, type SbomRequest, type SbomResult } from './sbom/image.js';
export { sbomOf, type SbomSourceOptions } from './image/sbom-source.js';
