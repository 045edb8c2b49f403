/**
 * The text databases (dpkg's status, apk's installed) are stanzas of fields
 * separated by blank lines, read line by line from the spooled file so a
 * 10 MB status file is never one string.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Each stanza's lines, in order; a stanza ends at a blank line or the end of the file. */
export async function* stanzas(path: string): AsyncGenerator<string[]> {
  let lines: string[] = [];
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    if (line.trim() === '') {
      if (lines.length > 0) yield lines;
      lines = [];
    } else if (lines.length < maxLines) lines.push(line);
  }
  if (lines.length > 0) yield lines;
}

/** Far more than any package's fields (dpkg's Conffiles of a big package is a few hundred lines). */
const maxLines = 100_000;
