/**
 * Registry credentials in the file docker, skopeo and podman share:
 * `{"auths": {"HOST": {"auth": base64("user:password")}}}`. Which file: the
 * --authfile option, else $REGISTRY_AUTH_FILE (as skopeo and podman), else
 * $DOCKER_CONFIG/config.json, else ~/.docker/config.json (as docker). Other
 * keys in the file (credsStore, proxies, ...) are kept as they are; the file
 * is replaced atomically and is readable by its owner only.
 */
import { homedir } from 'node:os';
import { homeCause } from '../io/home.js';
import { dirname, join } from 'node:path';
import { InvalidInputError, fromFsError } from '../errors.js';
import { readMetadataIfExists } from '../io/metadata.js';
import { makeDirectory, writeFileAtomic } from '../io/durable.js';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; [extra: string]: unknown }>;
  [extra: string]: unknown;
}

/** The key docker uses for Docker Hub in config.json. */
const dockerHubKey = 'https://index.docker.io/v1/';

export function authFilePath(override?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (override) return override;
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** The config.json key for a registry host, and the host a key names ("https://host/v1/" → "host"), as docker's convertToHostname. */
function keyFor(registry: string): string {
  return registry === 'docker.io' ? dockerHubKey : registry;
}

function hostOfKey(key: string): string {
  const host = key.replace(/^https?:\/\//, '').split('/')[0]!;
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    const bytes = await readMetadataIfExists(path, 'settings', 'a credentials file');
    if (bytes === undefined) return undefined;
    text = bytes.toString('utf8');
  } catch (err) {
    throw homeCause(fromFsError(err, path), path, 'the credentials file');
  }
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(path, `malformed JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidInputError(path, 'not a JSON object');
  const file = value as AuthFile;
  if (file.auths !== undefined && (typeof file.auths !== 'object' || file.auths === null || Array.isArray(file.auths))) throw new InvalidInputError(path, '"auths" is not an object');
  return file;
}

/** The stored credentials for registry, if any. A credsStore/credHelpers entry is not consulted: only inline "auth". */
export async function readCredentials(registry: string, path: string): Promise<Credentials | undefined> {
  const auths = (await readAuthFile(path))?.auths ?? {};
  const key = Object.keys(auths).find((candidate) => candidate === keyFor(registry)) ?? Object.keys(auths).find((candidate) => hostOfKey(candidate) === registry);
  const auth = key === undefined ? undefined : auths[key]?.auth;
  if (typeof auth !== 'string' || auth === '') return undefined;
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new InvalidInputError(path, `the credentials for ${registry} are not base64 of "user:password"`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export async function storeCredentials(registry: string, credentials: Credentials, path: string): Promise<void> {
  const file = (await readAuthFile(path)) ?? {};
  const auths = { ...(file.auths ?? {}) };
  for (const key of Object.keys(auths)) if (hostOfKey(key) === registry) delete auths[key];
  auths[keyFor(registry)] = { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') };
  await writeAuthFile(path, { ...file, auths });
}

/** False when there was nothing stored for registry. */
export async function removeCredentials(registry: string, path: string): Promise<boolean> {
  const file = await readAuthFile(path);
  if (!file?.auths) return false;
  const auths = { ...file.auths };
  const keys = Object.keys(auths).filter((key) => hostOfKey(key) === registry);
  if (keys.length === 0) return false;
  for (const key of keys) delete auths[key];
  await writeAuthFile(path, { ...file, auths });
  return true;
}

/** Created 0600 from the start and replaced atomically: never a moment with the secret world-readable or half-written. */
async function writeAuthFile(path: string, file: AuthFile): Promise<void> {
  await makeDirectory(dirname(path), 0o700);
  await writeFileAtomic(path, `${JSON.stringify(file, null, '\t')}\n`, { mode: 0o600 });
}
