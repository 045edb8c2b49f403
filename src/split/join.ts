/**
 * Rebuilding the original file from a part set, verifying as it streams. A
 * file output is written to a hidden temp name beside it and renamed only
 * once every part and the whole have checked out, so a failed join leaves
 * no file behind. Bad parts the set's parity can rebuild are rebuilt as read
 * (events say so).
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeFileFromStream } from '../io/output.js';
import type { ManifestGate } from './manifest.js';
import { openPartSet, type RepairEvents } from './read.js';

/** Joins the set at path (a directory or its manifest) into output: a file path, or a stream (stdout), which gets all but a bad part's last chunk before the error. */
export async function joinPartSet(path: string, output: string | Writable, onProgress?: (bytesDone: number, total: number) => void, gate?: ManifestGate, events?: RepairEvents): Promise<void> {
  const { stream: source, size } = await openPartSet(path, gate, events);
  let done = 0;
  const counted = async function* (chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      done += chunk.length;
      onProgress?.(done, size!);
      yield chunk;
    }
  };
  if (typeof output !== 'string') await pipeline(source, counted, output);
  else await writeFileFromStream(output, () => counted(source));
}
