/**
 * `rootfs pack`'s archive, written where it goes: FILE through a temp file
 * renamed into place (a failed pack leaves FILE as it was), or a stream. The
 * archive being written, and the one it replaces, is never packed into itself.
 */
import { fstatSync } from 'node:fs';
import { createFileOutput, outputError, type FileIdentity, type OutputTarget } from '../io/output.js';
import { packTree, type PackEvents, type PackSummary } from './pack.js';
import type { SkippedFile, TreeOptions } from './tree.js';

export async function packTo(root: string, output: OutputTarget, options: TreeOptions = {}, events: PackEvents = {}): Promise<PackSummary> {
  return typeof output === 'string' ? packToFile(root, output, options, events) : packToStream(root, output, options, events);
}

async function packToStream(root: string, output: Exclude<OutputTarget, string>, options: TreeOptions, events: PackEvents): Promise<PackSummary> {
  // `rootfs pack / > /host.tar` must not pack /host.tar into itself.
  const target = output.fd === undefined ? undefined : fstatSync(output.fd, { bigint: true });
  const skip = target?.isFile() ? [theArchive({ dev: target.dev, ino: target.ino })] : [];
  return packTree(root, output.stream, { ...options, skip: [...(options.skip ?? []), ...skip] }, events).catch(outputError(output.name));
}

async function packToFile(root: string, file: string, options: TreeOptions, events: PackEvents): Promise<PackSummary> {
  const output = await createFileOutput(file);
  try {
    // Neither the archive being written nor the one it replaces goes into itself.
    const summary = await packTree(root, output.stream, { ...options, skip: [...(options.skip ?? []), ...output.identities.map((identity, i) => (i === 0 ? { identity, note: `the archive being written to ${file}; not dumped` } : theArchive(identity)))] }, events);
    await output.commit();
    return summary;
  } finally {
    await output.abort();
  }
}

/** The archive being written (or the one it replaces), met under ROOT: left out as GNU tar leaves it out, and said the same way. */
function theArchive(identity: FileIdentity): SkippedFile {
  return { identity, note: 'file is the archive; not dumped' };
}
