/**
 * The changes of compare.ts as one layer tar: carried entries as they are
 * (directories with a trailing slash, hardlinks to their carried first name)
 * and removals as `.wh.NAME` whiteouts, the way overlay2 and containerd
 * write a diff.
 */
import type { TarEntry } from '../tar/header.js';
import { TarWriter } from '../tar/writer.js';
import type { Change } from './compare.js';
import { markerPath, type PathIndex } from './plan.js';

export interface DeltaSummary {
  added: number;
  changed: number;
  deleted: number;
  /** Entries carried only to keep hardlinks whole or as parent directories. */
  kept: number;
  /** File content bytes in the layer. */
  bytes: number;
}

/** Writes the changes as a tar; `summary` is complete when the writer ends. */
export function deltaTar(changes: AsyncIterable<Change>, index: PathIndex, summary: DeltaSummary): TarWriter {
  const writer = new TarWriter();
  void (async () => {
    for await (const change of changes) {
      if (change.kind === 'delete') {
        summary.deleted++;
        await writer.add({ path: markerPath(index, change.node, 'whiteout'), type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 });
        continue;
      }
      const { entry, content, why } = change;
      if (why === 'added') summary.added++;
      else if (why === 'changed') summary.changed++;
      else summary.kept++;
      const out: TarEntry = entry.type === 'directory' ? { ...entry, path: Buffer.concat([entry.path, SLASH]) } : entry;
      if (entry.type === 'file') summary.bytes += entry.size;
      await writer.add(out, entry.type === 'file' && content ? content() : undefined);
    }
    await writer.finish();
  })().catch((err: Error) => writer.destroy(err));
  return writer;
}

const SLASH = Buffer.from('/');
