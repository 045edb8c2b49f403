import { text } from 'node:stream/consumers';
import { UsageError } from '../errors.js';
import { RegistryClient } from '../registry/client.js';
import { authFilePath, storeCredentials } from '../registry/credentials.js';
import type { CommandModule } from './command.js';
import { askLine, readHidden } from './prompt.js';
import { addRegistryFlags, registryHost, registryOptions } from './registry-options.js';

export const loginCommand: CommandModule = (cli, run) => {
  addRegistryFlags(
    cli
      .command('login <registry>', 'Check credentials with a registry and store them for push and pull (readable by you only)')
      .option('-u, --username <user>', 'User name (asked for on a terminal if not given)')
      .option('-p, --password <password>', 'Password (visible to other users in the process list: prefer --password-stdin)')
      .option('--password-stdin', 'Read the password from stdin'),
  )
    .example('echo "$PASSWORD" | rootfs login registry.site:5000 -u builder --password-stdin')
    .action((registry: string, opts) =>
      run(async (reporter) => {
        const host = registryHost(registry);
        const username = opts.username !== undefined ? String(opts.username) : await ask('Username: ', false);
        const password = opts.passwordStdin ? (await text(process.stdin)).replace(/\r?\n$/, '') : opts.password !== undefined ? String(opts.password) : await ask('Password: ', true);
        if (username === '' || password === '') throw new UsageError('login needs a user name and a password');
        if (opts.password !== undefined) reporter.warn('a password given with --password can be read by other users of this machine; use --password-stdin');
        const client = await RegistryClient.connect(host, { ...(await registryOptions(opts, host)), credentials: { username, password } });
        try {
          await client.verifyLogin();
        } finally {
          client.close();
        }
        const file = authFilePath(opts.authfile);
        await storeCredentials(host, { username, password }, file);
        reporter.info(`Credentials stored in ${file}`);
        reporter.result('Login Succeeded');
        reporter.emitJson({ registry: host, username, authfile: file });
      }, opts),
    );
};

/** Asks on the terminal. Without a terminal there is no one to ask. */
async function ask(question: string, secret: boolean): Promise<string> {
  const withoutTerminal = `no terminal to ask for the ${secret ? 'password' : 'user name'}: give ${secret ? '--password-stdin' : '--username'}`;
  if (!secret) return askLine(question, withoutTerminal);
  if (!process.stdin.isTTY) throw new UsageError(withoutTerminal);
  return readHidden(question, 'login cancelled');
}
