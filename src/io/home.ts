/**
 * Paths under HOME (the default store, docker's credentials file): when
 * reaching one fails because HOME itself may not be read (sudo keeping
 * root's HOME, a service account's HOME=/root), the error says so, not
 * "permission denied" on a path the user never named.
 */
import { accessSync, constants } from 'node:fs';
import { userInfo } from 'node:os';
import { HostIoError, RootfsError } from '../errors.js';

/** err, or the HOME it comes from when HOME is not readable by this user and path is under it; what names the path ("the store"). */
export function homeCause(err: unknown, path: string, what: string, env: NodeJS.ProcessEnv = process.env): unknown {
  const home = env.HOME?.replace(/\/+$/, '');
  if (!home || !path.startsWith(`${home}/`)) return err;
  const cause = err instanceof RootfsError ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'EACCES' && code !== 'EPERM') return err;
  try {
    accessSync(home, constants.R_OK | constants.X_OK);
    return err;
  } catch {
    return new HostIoError(`HOME=${home} is not readable by ${currentUser()}, and ${what} ${path} is under it: set HOME to this user's home directory`, { cause });
  }
}

/** "user alice", or "uid 1000" where the user database has no name for it. */
export function currentUser(): string {
  try {
    return `user ${userInfo().username}`;
  } catch {
    return `uid ${process.getuid?.()}`;
  }
}
