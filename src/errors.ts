/**
 * Every error a user can cause or meet is one of these classes; the CLI maps
 * the class to an exit code and prints only the message (no stack unless
 * --debug). Anything else reaching the CLI is a bug and exits 70.
 *
 * Exit codes (documented in README.md):
 *   0  success
 *   1  completed with warnings (like GNU tar: a file changed or vanished while read)
 *   2  usage error (bad flags, bad image reference)
 *   3  input error (corrupt, truncated or hostile archive, digest mismatch)
 *   4  not found (image, file, blob)
 *   5  I/O or permission error on the host
 *   6  store is locked by another command and --no-wait was given, or locking failed
 *   7  network or registry error
 *  70  internal error (a bug: please report it with --debug output)
 */
export const ExitCode = {
  Ok: 0,
  Warnings: 1,
  Usage: 2,
  BadInput: 3,
  NotFound: 4,
  Io: 5,
  Locked: 6,
  Network: 7,
  Internal: 70,
  /** The reader of our output went away (a closed pipe): what a shell reports for a death by SIGPIPE. */
  ClosedPipe: 141,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class RootfsError extends Error {
  abstract readonly exitCode: ExitCode;
  constructor(message: string, options?: { cause?: unknown }) {
    // Messages carry names from archives and texts from registries: a hostile one must not reach a terminal raw.
    super(printable(message), options);
    this.name = new.target.name;
  }
}

/** Bad flags, arguments or references. */
export class UsageError extends RootfsError {
  readonly exitCode = ExitCode.Usage;
}

/** An archive, tar, blob or JSON document that is corrupt, truncated, hostile or inconsistent. */
export class InvalidInputError extends RootfsError {
  readonly exitCode = ExitCode.BadInput;
  /** The file, member or entry at fault (escaped), prefixed to the message. */
  readonly where: string;
  constructor(where: string, detail: string, options?: { cause?: unknown }) {
    super(`${where}: ${detail}`, options);
    this.where = printable(where);
  }
}

/** A stored or transferred blob whose bytes do not hash to the digest that names it. */
export class DigestMismatchError extends InvalidInputError {
  constructor(where: string, readonly expected: string, readonly actual: string) {
    super(where, `digest mismatch: expected ${expected}, got ${actual}`);
  }
}

/** Why a signature check failed: each has its own message, and --json reports the reason. */
export type VerificationProblem = 'unsigned' | 'wrong-key' | 'bad-signature' | 'digest-mismatch' | 'unsupported-key' | 'malformed';

/**
 * A signature that is missing, by another key, not over what it should be,
 * or unreadable: the input is not what the trusted signer sent (exit 3, as
 * any input that fails its checks). `subject` names the image or file.
 */
export class VerificationError extends RootfsError {
  readonly exitCode = ExitCode.BadInput;
  constructor(readonly subject: string, readonly problem: VerificationProblem, detail: string, options?: { cause?: unknown }) {
    super(`${subject}: ${detail}`, options);
  }
}

export class NotFoundError extends RootfsError {
  readonly exitCode = ExitCode.NotFound;
}

/** The host refused: permission, disk full, a path that is not what it should be. */
export class HostIoError extends RootfsError {
  readonly exitCode = ExitCode.Io;
}

export class LockedError extends RootfsError {
  readonly exitCode = ExitCode.Locked;
}

export class NetworkError extends RootfsError {
  readonly exitCode = ExitCode.Network;
}

/** Data (an archive, a tar) could not all be written: the reading end of its pipe was closed. */
export class ClosedPipeError extends RootfsError {
  readonly exitCode = ExitCode.ClosedPipe;
}

/** An error from a system call (ENOENT, EIO, ENOSPC, ...), as Node raises them. */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException & { syscall: string } {
  return err instanceof Error && 'syscall' in err && 'code' in err;
}

/** Turns a Node fs error into a HostIoError or NotFoundError naming the path. */
export function fromFsError(err: unknown, path: string | Buffer): RootfsError | unknown {
  if (!(err instanceof Error) || !('code' in err)) return err;
  const shown = typeof path === 'string' ? path : displayPath(path);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new NotFoundError(`${shown}: no such file or directory`, { cause: err });
  if (code === 'EPIPE') return new ClosedPipeError(`${shown}: the reader closed the pipe before the output was complete`, { cause: err });
  return new HostIoError(`${shown}: ${systemErrorText(err)}`, { cause: err });
}

/** A system error's text without Node's decorations: "permission denied", not "EACCES: permission denied, open '/x'". */
export function systemErrorText(err: Error): string {
  return err.message.replace(/^[A-Z]+: /, '').replace(/, \w+(?: '.*')?$/, '');
}

/**
 * A raw path for messages: valid UTF-8 as is, other bytes as \xNN escapes,
 * the way GNU tar quotes them, so the user can see which file is meant;
 * control characters escaped as by printable().
 */
export function displayPath(path: Buffer): string {
  const text = path.toString('utf8');
  if (!text.includes('\uFFFD')) return printable(text);
  let out = '';
  for (const byte of path) out += byte < 0x80 ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return printable(out);
}

/**
 * Control characters that move the cursor, clear the screen, start a new
 * line or reorder text (C0, DEL, C1, line/paragraph separators, bidi
 * overrides), in a text shown to a person, as \xNN / \uNNNN escapes. The
 * one way to show a name from an archive or a text from a registry; every
 * RootfsError and the CLI's last printer apply it too.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** What printable() escapes (global: for replace()). */
export const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
