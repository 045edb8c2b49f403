/** Asking a person on the terminal: for a secret (a registry password, a key's passphrase), or yes or no. */
import { createInterface } from 'node:readline/promises';
import { UsageError } from '../errors.js';
import type { PassphraseSource } from '../trust/index.js';

/** Reads a line in raw mode, echoing nothing: the password never shows on the screen. */
export function readHidden(question: string, cancelled: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003' || char === '\u0004') return finish(new UsageError(cancelled));
        value = char === '\u007f' || char === '\b' ? [...value].slice(0, -1).join('') : value + char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** A key's passphrase: ROOTFS_KEY_PASSWORD, else asked on the terminal (confirmed when a new key is made), else none. */
export function passphrase(path: string, options: { confirm?: boolean } = {}): PassphraseSource {
  return async () => {
    const fromEnv = (await import('../trust/index.js')).passphraseFromEnv();
    if (fromEnv !== undefined) return fromEnv;
    if (!process.stdin.isTTY) return undefined;
    const first = await readHidden(`Passphrase for ${path}: `, 'cancelled');
    if (options.confirm && (await readHidden('Again: ', 'cancelled')) !== first) throw new UsageError('the passphrases differ');
    return first;
  };
}

/** Reads a line from the terminal. Without a terminal nobody can answer: that is the usage error `withoutTerminal`. */
export async function askLine(question: string, withoutTerminal: string): Promise<string> {
  if (!process.stdin.isTTY) throw new UsageError(withoutTerminal);
  const prompt = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await prompt.question(question)).trim();
  } finally {
    prompt.close();
  }
}

/** Asks `question [y/N]`, as docker asks before a prune: only y or yes is yes; no terminal is a usage error, not a silent answer. */
export async function confirm(question: string, withoutTerminal: string): Promise<boolean> {
  return /^y(?:es)?$/i.test(await askLine(`${question} [y/N] `, withoutTerminal));
}
