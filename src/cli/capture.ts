/** What import and commit share: their flags as import options, progress, and the report of the image made. */
import type { Command } from 'cac';
import { ExitCode } from '../errors.js';
import type { ImportEvents, ImportImageOptions, ImportSource, SingleLayerImport, DeltaImport } from '../image/import-source.js';
import type { LayerCompression } from '../image/layer.js';
import { familiarName, parseReference } from '../oci/reference.js';
import { count } from '../text.js';
import { imageConfigFlags, layerCompression } from './options.js';
import { addPackFlags, packEvents, reportNotEntered } from './pack-options.js';
import { formatBytes, type Reporter } from './report.js';
import { reportCapturedSbom } from './sbom.js';
import { packageVersion } from './version.js';

/** --checksum and pack's flags: the flags of a command that compares a new tree. */
export function addTreeFlags(command: Command): Command {
  return addPackFlags(command).option('--checksum', "Read and hash every file whose metadata matches, not only those changed since the base's capture (as rsync -c; docs/incremental.md)");
}

type CaptureFlags = { compression?: unknown; level?: unknown; change?: unknown; message?: unknown; platform?: unknown; checksum?: unknown; sbom?: unknown };

/** The image's name REF, --compression/--level, -c/-m/--platform, --checksum and --sbom, as importImage takes them. */
export function captureOptions(reporter: Reporter, opts: CaptureFlags, ref: string | undefined, command: 'import' | 'commit'): ImportImageOptions & { compression: LayerCompression } {
  const { compression, level } = layerCompression(opts, reporter);
  const tags = ref === undefined ? [] : [parseReference(ref)];
  const config = imageConfigFlags(opts);
  const created = config.created ?? new Date();
  return { tags, ...config, created, compression, level, checksum: Boolean(opts.checksum), command, ...(opts.sbom === true ? { sbom: { created, toolVersion: packageVersion() } } : {}) };
}

/** Progress as the source is read: a tarball's bytes, a directory's walk (and its warnings), a base's indexing. */
export function captureEvents(reporter: Reporter, source: ImportSource): ImportEvents {
  const where = source.path === '-' ? 'stdin' : source.path;
  if (source.kind === 'tarball') return { onProgress: (bytes, entries) => reporter.progress({ label: `importing ${where}`, bytes, total: source.total, fromStdin: source.path === '-', entries }) };
  if (source.kind === 'directory') return { pack: packEvents(reporter, source.total) };
  if (source.kind === 'delta') return { onIndexed: (entries) => reporter.progress({ label: `${source.base}: indexing the base; comparing ${source.path}`, entries }), onNotice: (message) => reporter.noticeOnce(message) };
  return {};
}

/** The image made: its ID, a summary line, the JSON; exit 1 when it is complete with warnings. */
export function reportCapture(reporter: Reporter, result: SingleLayerImport | DeltaImport, compression: string): number {
  reportCapturedSbom(reporter, result.sbom);
  reportNotEntered(reporter, result.notEntered ?? []);
  reporter.result(result.imageId);
  const tags = result.tags.map(familiarName);
  const tagged = tags.length ? `, tagged ${tags.join(', ')}` : '';
  const layer = `layer ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression})`;
  const notEntered = result.notEntered ? { mountPointsNotEntered: result.notEntered } : {};
  if (result.kind === 'layer') {
    reporter.info(`${count(result.entries, 'entry')}, ${layer}${tagged}`);
    reporter.emitJson({ id: result.imageId, tags, manifest: result.manifest, layer: result.layer, diffId: result.diffId, entries: result.entries, inputCompression: result.inputCompression, ...notEntered });
  } else {
    const { summary, read } = result;
    reporter.info(
      `${summary.added} added, ${summary.changed} changed, ${summary.deleted} deleted (${summary.kept} kept for parents and hardlinks), ` +
        `${formatBytes(summary.bytes)} of content; ${layer} on ${result.base}` +
        (read ? `; ${formatBytes(read.bytes)} read from ${count(read.files, 'file')}` : '') +
        tagged,
    );
    reporter.emitJson({ id: result.imageId, tags, manifest: result.manifest, layer: result.layer, diffId: result.diffId, base: result.base, ...summary, ...(read ? { contentBytesRead: read.bytes, filesRead: read.files } : {}), ...notEntered });
  }
  // A file that changed while read, or a package database that could not be read, is a warning: the image is made, exit 1 says so.
  return (result.kind === 'layer' && result.incomplete) || reporter.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
}
