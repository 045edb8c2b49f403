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
      const chars = [...chunk.toString('utf8')];
      for (const [i, char] of chars.entries()) {
        if (char === '\r' || char === '\n') {
          // What was typed ahead (the confirmation, pasted with the first) is the next question's: given back, not dropped.
          const rest = chars.slice(char === '\r' && chars[i + 1] === '\n' ? i + 2 : i + 1).join('');
          finish();
          // After finish: unshifting into a listened-to stream would hand it straight back to this handler.
          if (rest !== '') stdin.unshift(Buffer.from(rest, 'utf8'));
          return;
        }
        if (char === '\u0003' || char === '\u0004') return finish(new UsageError(cancelled));
        value = char === '\u007f' || char === '\b' ? [...value].slice(0, -1).join('') : value + char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Times a new key's passphrase is asked before two that differ end the command, as ssh-keygen and passwd give up. */
const confirmAttempts = 3;

/**
 * A key's passphrase: ROOTFS_KEY_PASSWORD, else asked on the terminal, else
 * none. When a new key is made (confirm), asked twice; two that differ are
 * asked for again (a typo is not a reason to start over), up to confirmAttempts times.
 */
export function passphrase(path: string, options: { confirm?: boolean } = {}): PassphraseSource {
  return async () => {
    const fromEnv = (await import('../trust/index.js')).passphraseFromEnv();
    if (fromEnv !== undefined) return fromEnv;
    if (!process.stdin.isTTY) return undefined;
    for (let attempt = 1; ; attempt++) {
      const first = await readHidden(`Passphrase for ${path}: `, 'cancelled');
      if (!options.confirm || (await readHidden('Again: ', 'cancelled')) === first) return first;
      if (attempt === confirmAttempts) throw new UsageError(`the passphrases differ (${confirmAttempts} times); no key written`);
      process.stderr.write('The passphrases differ; try again.\n');
    }
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
