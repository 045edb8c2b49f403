/** What import --base and commit share: the new tree against BASEREF, written as one layer on it. */
import type { Command } from 'cac';
import { ExitCode } from '../errors.js';
import { commitDelta } from '../image/delta.js';
import { familiarName, parseReference } from '../oci/reference.js';
import { imageConfigFlags, layerCompression } from './options.js';
import type { Reporter } from './report.js';
import { formatBytes } from './report.js';
import { count } from '../text.js';
import { withStore } from './store-option.js';
import { openTree } from './tree-input.js';
import { addPackFlags, reportNotEntered } from './pack-options.js';
import type { GlobalOptions } from './command.js';
import { resolveImage } from '../store/resolve.js';
import { withCapture } from './sbom.js';

/** --checksum and pack's flags: the flags of a command that compares a new tree. */
export function addTreeFlags(command: Command): Command {
  return addPackFlags(command).option('--checksum', "Read and hash every file whose metadata matches, not only those changed since the base's capture (as rsync -c; docs/incremental.md)");
}

type DeltaFlags = GlobalOptions & Record<string, unknown> & { sbom?: unknown; compression?: unknown; level?: unknown; change?: unknown; message?: unknown; platform?: unknown };

export async function runDelta(reporter: Reporter, source: string, ref: string | undefined, baseRef: string, opts: DeltaFlags, verb: string): Promise<number> {
  const { compression, level } = layerCompression(opts, reporter);
  const config = imageConfigFlags(opts);
  const tags = ref === undefined ? [] : [parseReference(ref)];
  const tree = await openTree(source, opts, Boolean(opts.force));
  const created = config.created ?? new Date();
  const result = await withStore(opts, async (store) => {
    const base = await resolveImage(store, baseRef);
    // The SBOM is of the whole new tree, so the tap sees its members, not the layer of its changes.
    return withCapture(reporter, opts, store, created, (tap) =>
      commitDelta(store, base, baseRef, tap ? tap.members(tree.members) : tree.members, {
        source: source === '-' ? 'stdin' : source,
        tags,
        checksum: Boolean(opts.checksum),
        origin: tree.origin,
        ...config,
        created,
        compression,
        level,
        createdBy: `rootfs ${verb} ${source} --base ${baseRef}`,
        onIndexed: (entries) => reporter.progress({ label: `${baseRef}: indexing the base; comparing ${source}`, entries }),
        // The cache of the tree index is derived data: a damaged or unwritable one costs time, and changes no result.
        onWarning: (message) => reporter.notice(message),
      }),
    );
  });
  const { summary } = result;
  reportNotEntered(reporter, tree.notEntered ?? []);
  reporter.result(result.imageId);
  reporter.info(
    `${summary.added} added, ${summary.changed} changed, ${summary.deleted} deleted (${summary.kept} kept for parents and hardlinks), ` +
      `${formatBytes(summary.bytes)} of content; layer ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression}) on ${baseRef}` +
      (tree.read ? `; ${formatBytes(tree.read.bytes)} read from ${count(tree.read.files, 'file')}` : '') +
      (tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''),
  );
  reporter.emitJson({
    id: result.imageId,
    tags: tags.map(familiarName),
    manifest: result.manifest,
    layer: result.layer,
    diffId: result.diffId,
    base: baseRef,
    ...summary,
    ...(tree.read ? { contentBytesRead: tree.read.bytes, filesRead: tree.read.files } : {}),
    ...(tree.notEntered ? { mountPointsNotEntered: tree.notEntered } : {}),
  });
  // A package database that could not be read is a warning: the image is made, exit 1 says so.
  return reporter.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
}
