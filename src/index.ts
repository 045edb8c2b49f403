/**
 * The library's face: what a program that imports `rootfs` may call, the
 * operations the CLI's commands call, with their typed errors and the OCI
 * data model. Everything else under src/ is internal and may change; this
 * file is the one package.json `exports` names. It sits above the operations
 * and beside nothing: src/cli does not import it, and it imports no file of
 * src/cli (test/architecture.test.ts).
 */

// Errors: every failure is one of these, carrying its exit code.
export { ClosedPipeError, DigestMismatchError, ExitCode, HostIoError, InvalidInputError, LockedError, NetworkError, NotFoundError, RootfsError, UsageError, VerificationError } from './errors.js';
export type { VerificationProblem } from './errors.js';

// The OCI data model.
export { Annotation, MediaType } from './oci/types.js';
export type { ContainerConfig, Descriptor, Digest, HealthConfig, HistoryEntry, ImageConfig, Index, Manifest, OciLayoutFile, Platform } from './oci/types.js';
export { familiarName, parseReference } from './oci/reference.js';
export type { ImageReference } from './oci/reference.js';
export { formatPlatform, hostPlatform, parsePlatform } from './oci/platform.js';

// The store: open it, find, list, tag, remove, collect.
export { Store, defaultStoreDir } from './store/store.js';
export type { StoreEntry } from './store/store.js';
export { findImage, resolveImage } from './store/resolve.js';
export type { FoundImage, ResolvedImage } from './store/resolve.js';
export { imageFilter, listImages } from './store/images.js';
export type { ImageFilter, ImageRow, ListImagesOptions } from './store/images.js';
export { inspectImages } from './store/inspect.js';
export type { InspectedImage } from './store/inspect.js';
export { removeImages } from './store/remove.js';
export type { RemovedImages } from './store/remove.js';
export { collectGarbage } from './store/gc.js';
export type { GcResult } from './store/gc.js';

// Making images: pack a tree, import it, derive from a stored image.
export { packTo } from './pack/output.js';
export { packTree } from './pack/pack.js';
export type { PackEvents, PackSummary, PackWarning } from './pack/pack.js';
export type { TreeOptions } from './pack/tree.js';
export { importImage, openDeltaSource, openImportSource } from './image/import-source.js';
export type { DeltaImport, ImportEvents, ImportImageOptions, ImportSource, ImportSourceOptions, SingleLayerImport } from './image/import-source.js';
export { openTree, pathKind } from './image/tree-input.js';
export type { TreeChoice, TreeInput } from './image/tree-input.js';
export { importDirectory, importMembers, importTarball } from './image/import.js';
export type { DirectoryImportResult, ImportedImage, ImportOptions, ImportResult, LayerCompression } from './image/import.js';
export { commitDelta } from './image/delta.js';
export type { DeltaOptions, DeltaResult } from './image/delta.js';
export { deriveImage } from './image/derive.js';
export type { Derivation, DerivedImage } from './image/derive.js';
export { appendLayer, openAppendInput } from './image/append.js';
export type { AppendInput, AppendOptions } from './image/append.js';
export { rebaseImage } from './image/rebase.js';
export type { RebaseOptions, RebaseResult } from './image/rebase.js';
export { squashImage } from './image/squash.js';
export type { SquashOptions, SquashResult } from './image/squash.js';

// Reading images out: export, unpack, diff, history.
export { exportImage } from './image/export.js';
export type { ExportResult } from './image/export.js';
export type { OutputTarget } from './io/output.js';
export { unpackImage } from './image/unpack.js';
export type { UnpackOptions, UnpackResult } from './image/unpack.js';
export { diffImage, diffImagePackages, diffStat, diffTrees } from './image/diff.js';
export type { DiffOptions, TreeDifference } from './image/diff.js';
export { imageHistory } from './image/history.js';
export type { HistoryRow } from './image/history.js';

// Moving images: archives, layouts, registries, part sets.
export { parseAddress, parseTransportAddress } from './formats/address.js';
export type { ArchiveAddress, FormatName, RegistryAddress, TransportAddress } from './formats/address.js';
export { saveImages } from './formats/save.js';
export type { CompressionChoice, SaveOptions, SaveResult } from './formats/save.js';
export { loadArchive } from './formats/load.js';
export type { LoadOptions, LoadResult } from './formats/load.js';
export { copyImages } from './formats/copy.js';
export type { CopyOptions, CopyResult } from './formats/copy.js';
export { pullImage } from './registry/pull.js';
export type { PullOptions, PullResult } from './registry/pull.js';
export { pushImage } from './registry/push.js';
export type { PushOptions, PushResult } from './registry/push.js';
export { splitToParts } from './split/split.js';
export type { SplitOptions, SplitResult } from './split/split.js';
export { joinPartSet } from './split/join.js';
export { namesPartSet } from './split/manifest.js';
export { partSetProblem, verifyPartSet } from './split/read.js';
export type { VerifyResult } from './split/read.js';

// Trust: keys, signing, verifying.
export { generateKeyPair, readSigningKey, readVerifyingKey, writeKeyPair } from './trust/keys.js';
export type { SigningKey, VerifyingKey } from './trust/keys.js';
export { signImage, signImages } from './trust/sign.js';
export type { ImageSignature } from './trust/sign.js';
export { checkStoredImage, verifyStoredImage } from './trust/verify.js';
export type { CheckedImage, VerifiedImage, VerifyOptions } from './trust/verify.js';

// SBOMs.
export { attachSbom, imageSbom, treeSbom } from './sbom/image.js';
export type { CapturedSbom, SbomRequest, SbomResult } from './sbom/image.js';
export { sbomOf } from './sbom/source.js';
export type { SbomSourceOptions } from './sbom/source.js';
