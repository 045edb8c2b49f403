/**
 * Reading tar streams. One push parser (TarParser) checks every header as
 * bytes arrive; it has two faces: readTar(), which hands out members with
 * streamed bodies, and TarValidator, a pass-through that only checks (so the
 * same bytes can be hashed and compressed on their way to the store); TarProbe
 * checks without failing the stream, for bytes not yet known to be a tar.
 *
 * The parser never copies a body: it hands out slices of the chunks it is
 * fed. Only pax and GNU long-name records, which are small, are buffered.
 */
import { finished } from 'node:stream/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { displayPath, InvalidInputError } from '../errors.js';
import { BLOCK, decodeHeader, decodePaxRecords, isZeroBlock, padding, parseNumeric, resolveEntry, TypeFlag, type RawHeader, type TarEntry } from './header.js';

export interface TarMember {
  /** pax and GNU long names folded in. */
  entry: TarEntry;
  /** Byte offset of the member's first header block (its pax/GNU headers) in the uncompressed stream. */
  offset: number;
  /** Exactly entry.size bytes; drained automatically if not read before the next member is asked for. */
  body: Readable;
}

/** pax and GNU long-name records are buffered whole; anything larger than this is not a header a real writer makes. */
const META_LIMIT = 1 << 20;

/**
 * Bytes tolerated after the end-of-archive marker: what writers pad to (GNU
 * tar and bsdtar fill a 10240-byte record, `tar -b 2048` a 1 MiB one). More
 * is not padding but data that goes on (an archive followed by /dev/zero, two
 * archives concatenated): refused, rather than read for ever.
 */
export const TRAILER_LIMIT = 1 << 20;

interface ParserEvents {
  entry(entry: TarEntry, offset: number): void;
  data(chunk: Buffer): void;
  end(): void;
}

type State =
  | 'header' // expecting a header block
  | 'sparse' // expecting an old GNU sparse extension block
  | 'zero' // one zero block seen, expecting the second
  | 'body'
  | 'meta' // the body of a pax or GNU long-name header
  | 'skip' // padding after a body
  | 'trailer'; // after the end-of-archive marker: not parsed

class TarParser {
  private state: State = 'header';
  /** Bytes consumed so far. */
  private offset = 0;
  private readonly partial = Buffer.alloc(BLOCK);
  private partialFill = 0;
  /** Where the end-of-archive marker ended. */
  private trailerStart = 0;
  /** Bytes left in the current body, meta record or padding. */
  private remaining = 0;

  // The member being assembled from its pax, GNU and sparse headers.
  private memberOffset = -1;
  private pax: Map<string, Buffer> | undefined;
  private globalPax: Map<string, Buffer> | undefined;
  private longName: Buffer | undefined;
  private longLink: Buffer | undefined;
  private metaType = 0;
  private meta = Buffer.alloc(0);
  private sparse: { raw: RawHeader; map: number[]; realsize: number } | undefined;
  private body: { path: Buffer; size: number } = { path: Buffer.alloc(0), size: 0 };

  constructor(private readonly where: string, private readonly events: ParserEvents) {}

  feed(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const available = chunk.length - pos;
      switch (this.state) {
        case 'trailer':
          this.offset += available;
          if (this.offset - this.trailerStart > TRAILER_LIMIT) {
            throw new InvalidInputError(`${this.where}: offset ${this.trailerStart}`, `more than ${TRAILER_LIMIT} bytes after the end-of-archive marker: not one tar archive (data goes on, or archives are concatenated)`);
          }
          return;
        case 'body': {
          const n = Math.min(this.remaining, available);
          this.events.data(chunk.subarray(pos, pos + n));
          pos += n;
          this.offset += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endBody();
          break;
        }
        case 'meta': {
          const n = Math.min(this.remaining, available);
          chunk.copy(this.meta, this.meta.length - this.remaining, pos, pos + n);
          pos += n;
          this.offset += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endMeta();
          break;
        }
        case 'skip': {
          const n = Math.min(this.remaining, available);
          pos += n;
          this.offset += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'header';
          break;
        }
        default: {
          let block: Buffer;
          if (this.partialFill === 0 && available >= BLOCK) {
            block = chunk.subarray(pos, pos + BLOCK);
            pos += BLOCK;
            this.offset += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.partialFill, available);
            chunk.copy(this.partial, this.partialFill, pos, pos + n);
            pos += n;
            this.offset += n;
            this.partialFill += n;
            if (this.partialFill < BLOCK) return;
            this.partialFill = 0;
            block = this.partial;
          }
          this.onBlock(block, this.offset - BLOCK);
        }
      }
    }
  }

  /** The input has ended: throws unless the archive was complete. */
  end(): void {
    if (this.state === 'trailer') return;
    if (this.offset === 0) throw new InvalidInputError(this.where, 'empty input: not a tar archive');
    const at = `${this.where}: offset ${this.offset - this.partialFill}`;
    switch (this.state) {
      case 'body':
        throw new InvalidInputError(
          `${this.where}: ${displayPath(this.body.path)}`,
          `truncated: the archive ends ${this.body.size - this.remaining} bytes into this ${this.body.size}-byte member`,
        );
      case 'meta':
      case 'sparse':
        throw new InvalidInputError(at, 'truncated inside an extended header');
      case 'skip':
        throw new InvalidInputError(at, 'truncated in the padding after a member');
      default:
        if (this.partialFill > 0) throw new InvalidInputError(at, 'truncated inside a header');
        if (this.memberOffset >= 0) throw new InvalidInputError(at, 'truncated after an extended header, before its member');
        throw new InvalidInputError(at, 'truncated: no end-of-archive marker');
    }
  }

  private onBlock(block: Buffer, at: number): void {
    if (this.state === 'sparse') return this.onSparseExtension(block, at);
    if (this.state === 'zero') {
      if (!isZeroBlock(block)) throw new InvalidInputError(`${this.where}: offset ${at}`, 'a lone zero block inside the archive: corrupt archive');
      this.state = 'trailer';
      this.trailerStart = at + BLOCK;
      return;
    }
    if (isZeroBlock(block)) {
      if (this.memberOffset >= 0) throw new InvalidInputError(`${this.where}: offset ${at}`, 'end-of-archive marker after an extended header, before its member');
      this.state = 'zero';
      return;
    }
    const raw = decodeHeader(block, `${this.where}: offset ${at}`);
    if (this.memberOffset < 0) this.memberOffset = at;
    switch (raw.typeflag) {
      case TypeFlag.PaxHeader:
      case TypeFlag.PaxGlobal:
      case TypeFlag.GnuLongName:
      case TypeFlag.GnuLongLink:
        if (raw.size > META_LIMIT) {
          throw new InvalidInputError(`${this.where}: offset ${at}`, `extended header of ${raw.size} bytes is larger than the ${META_LIMIT}-byte limit`);
        }
        this.metaType = raw.typeflag;
        this.meta = Buffer.alloc(raw.size);
        this.remaining = raw.size;
        this.state = 'meta';
        if (raw.size === 0) this.endMeta();
        return;
      case TypeFlag.GnuSparse:
        // Old GNU sparse: the body holds only the data segments; the map is
        // in this header and in extension blocks that follow it.
        this.sparse = {
          raw: { ...raw, typeflag: 0x30 },
          map: readSparseMap(block, 386, 4, this.where, at),
          realsize: parseNumeric(block, [483, 12], `${this.where}: offset ${at}`, 'GNU sparse real size'),
        };
        if (block[482]) this.state = 'sparse';
        else this.emitSparse();
        return;
      default:
        this.emit(raw, undefined);
    }
  }

  private onSparseExtension(block: Buffer, at: number): void {
    this.sparse!.map.push(...readSparseMap(block, 0, 21, this.where, at));
    if (block[504]) return;
    this.state = 'header';
    this.emitSparse();
  }

  /** Old GNU sparse members are described with the pax GNU.sparse 0.1 records, which carry the same map. */
  private emitSparse(): void {
    const { raw, map, realsize } = this.sparse!;
    this.sparse = undefined;
    this.emit(
      raw,
      new Map([
        ['GNU.sparse.realsize', Buffer.from(String(realsize))],
        ['GNU.sparse.map', Buffer.from(map.join(','))],
      ]),
    );
  }

  private emit(raw: RawHeader, extraPax: Map<string, Buffer> | undefined): void {
    const offset = this.memberOffset;
    const entry = resolveEntry(raw, this.pax, this.globalPax, this.longName, this.longLink, `${this.where}: offset ${offset}`);
    if (extraPax) for (const [key, value] of extraPax) (entry.pax ??= new Map()).set(key, value);
    this.memberOffset = -1;
    this.pax = this.longName = this.longLink = undefined;
    this.body = { path: entry.path, size: entry.size };
    this.remaining = entry.size;
    this.state = 'body';
    this.events.entry(entry, offset);
    if (entry.size === 0) this.endBody();
  }

  private endBody(): void {
    this.events.end();
    this.skip(padding(this.body.size));
  }

  private endMeta(): void {
    const where = `${this.where}: offset ${this.memberOffset}`;
    switch (this.metaType) {
      case TypeFlag.PaxHeader:
        this.pax = merge(this.pax, decodePaxRecords(this.meta, where));
        break;
      case TypeFlag.PaxGlobal:
        // A global header describes no member of its own; it applies to all later ones.
        this.globalPax = merge(this.globalPax, decodePaxRecords(this.meta, where));
        this.memberOffset = -1;
        break;
      case TypeFlag.GnuLongName:
        this.longName = beforeNul(this.meta);
        break;
      default:
        this.longLink = beforeNul(this.meta);
    }
    this.skip(padding(this.meta.length));
  }

  private skip(bytes: number): void {
    this.remaining = bytes;
    this.state = bytes > 0 ? 'skip' : 'header';
  }
}

function merge(into: Map<string, Buffer> | undefined, records: Map<string, Buffer>): Map<string, Buffer> {
  return into ? new Map([...into, ...records]) : records;
}

function beforeNul(data: Buffer): Buffer {
  const nul = data.indexOf(0);
  return Buffer.from(nul < 0 ? data : data.subarray(0, nul));
}

/** offset,numbytes pairs of an old GNU sparse map, up to the first empty slot. */
function readSparseMap(block: Buffer, start: number, slots: number, where: string, at: number): number[] {
  const map: number[] = [];
  for (let i = 0; i < slots; i++) {
    const slot = start + i * 24;
    if (block[slot] === 0) break;
    map.push(parseNumeric(block, [slot, 12], `${where}: offset ${at}`, 'GNU sparse offset'), parseNumeric(block, [slot + 12, 12], `${where}: offset ${at}`, 'GNU sparse size'));
  }
  return map;
}

/**
 * A member's body. Reading it pulls input through the parser; what the parser
 * delivers for a body nobody wants any more (destroyed) is dropped.
 */
class TarBody extends Readable {
  private wanted = false;
  private pulling = false;
  private ended = false;

  constructor(private readonly fill: () => Promise<boolean>) {
    super({ highWaterMark: 64 * 1024 });
  }

  deliver(chunk: Buffer | null): void {
    if (chunk === null) this.ended = true;
    if (this.destroyed) return;
    this.wanted = this.push(chunk) && !this.ended;
  }

  /** The input failed: an unfinished body errors; a complete one stays readable. */
  fail(err: Error): void {
    if (!this.ended) this.destroy(err);
  }

  override _read(): void {
    this.wanted = !this.ended;
    void this.pull();
  }

  private async pull(): Promise<void> {
    if (this.pulling) return;
    this.pulling = true;
    // fill() errors reach this body through destroy(); false means the input has ended.
    while (this.wanted && !this.destroyed && (await this.fill()));
    this.pulling = false;
  }

  /** Resolves once the body has been read to its end or abandoned; reads it to nowhere if nobody has started reading it. */
  async settle(): Promise<void> {
    if (this.destroyed || this.readableEnded) return;
    if (this.listenerCount('data') === 0 && this.listenerCount('readable') === 0) this.resume();
    await finished(this).catch(() => {});
  }
}

/**
 * Parses a tar stream member by member. `where` names the source (file name or
 * "stdin") in error messages. The input is read to its end (bytes after the
 * end-of-archive marker are read and ignored, so a decompressor's own errors
 * at the very end still surface); stopping early destroys it.
 */
export async function* readTar(input: Readable, where: string): AsyncGenerator<TarMember, void, undefined> {
  const source = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const pending: TarMember[] = [];
  let body: TarBody | undefined;
  let failure: unknown;
  let done = false;
  let filling: Promise<boolean> | undefined;

  const parser = new TarParser(where, {
    entry: (entry, offset) => {
      body = new TarBody(fill);
      // The iterator throws every input failure itself; a body nobody reads any more (its consumer went away,
      // as when export's stdout is closed) must not also crash the process with an unhandled 'error'.
      body.on('error', () => {});
      pending.push({ entry, offset, body });
    },
    data: (chunk) => body!.deliver(chunk),
    end: () => body!.deliver(null),
  });

  /** Feeds the parser one more chunk (one read at a time, whoever asks); false once the input is exhausted or failed. */
  function fill(): Promise<boolean> {
    if (done) return Promise.resolve(false);
    filling ??= (async () => {
      try {
        const next = await source.next();
        if (next.done) {
          done = true;
          parser.end();
        } else parser.feed(next.value);
        return !done;
      } catch (err) {
        done = true;
        failure = err;
        body?.fail(err as Error);
        return false;
      } finally {
        filling = undefined;
      }
    })();
    return filling;
  }

  let completed = false;
  try {
    let previous: TarBody | undefined;
    for (;;) {
      await previous?.settle();
      while (pending.length === 0 && !done) await fill();
      const member = pending.shift();
      if (!member) {
        if (failure) throw failure;
        completed = true;
        return;
      }
      previous = member.body as TarBody;
      yield member;
    }
  } finally {
    // Stopped early (by the consumer or an error): release the input as a for-await loop would.
    if (!completed) await source.return?.();
  }
}

/**
 * A pass-through Transform: bytes out exactly as in (so they can be hashed or
 * compressed), while the parser checks every header as it streams. Calls
 * onEntry for each member (a throw there errors the stream); errors the
 * stream on bad input.
 */
/** Hears a tar as it passes: each member's header (entry), its content (data), and its end (end, also for members without content). */
export interface TarWatcher {
  entry(entry: TarEntry): void;
  data(chunk: Buffer): void;
  end(): void;
}

export class TarValidator extends Transform {
  private readonly parser: TarParser;

  /** body, if given, hears each member's content as it passes (data), and its end (end, also for members without content). */
  constructor(where: string, onEntry?: (entry: TarEntry, offset: number) => void, body?: Pick<TarWatcher, 'data' | 'end'>) {
    super();
    const ignore = (): void => {};
    this.parser = new TarParser(where, { entry: onEntry ?? ignore, data: body?.data ?? ignore, end: body?.end ?? ignore });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.parser.feed(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.parser.end();
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }
}

/**
 * The parser's checks on bytes that flow elsewhere, without ever failing
 * the flow: the first problem is kept in `problem`. For the blobs of an
 * archive, which may or may not be layers: only a manifest read later says.
 */
export class TarProbe {
  problem: Error | undefined;
  private readonly parser: TarParser;

  constructor(where: string, onEntry: (entry: TarEntry, offset: number) => void) {
    const ignore = (): void => {};
    this.parser = new TarParser(where, { entry: onEntry, data: ignore, end: ignore });
  }

  feed(chunk: Buffer): void {
    this.attempt(() => this.parser.feed(chunk));
  }

  end(): void {
    this.attempt(() => this.parser.end());
  }

  private attempt(step: () => void): void {
    if (this.problem) return;
    try {
      step();
    } catch (err) {
      this.problem = err as Error;
      // Kept for later, with a member of a load: its stack would keep each frame's receiver (the parser and the
      // blob's whole pipeline, ~25 kB) alive until formatted, and formatted it still costs ~700 bytes.
      this.problem.stack = `${this.problem.name}: ${this.problem.message}`;
    }
  }
}
