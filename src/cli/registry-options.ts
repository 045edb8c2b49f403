/** The flags push, pull and login share (and save/load for docker://), and how their transfers are shown (docker's per-blob lines, one progress line on a TTY). */
import { count } from '../text.js';
import type { Command } from 'cac';
import { UsageError } from '../errors.js';
import { isRegistryAddress, parseRegistryAddress } from '../transports/address.js';
import { familiarName, fullName, parseReference, type ImageReference } from '../oci/reference.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { authFilePath, readCredentials } from '../registry/credentials.js';
import { pushImage, type PushOptions } from '../registry/push.js';
import type { Store } from '../store/store.js';
import type { LayerConversion, TransferEvent } from '../oci/image-ends.js';
import type { TransferOptions } from '../registry/transfer.js';
import { formatBytes, shortDigest, type Reporter } from './report.js';
import { sayOnInterrupt } from './interrupted.js';

export interface RegistryFlags {
  tlsVerify?: boolean | string;
  plainHttp?: boolean;
  authfile?: string;
  retries?: string | number;
  timeout?: string | number;
}

export function addRegistryFlags(command: Command): Command {
  return command
    .option('--tls-verify [bool]', 'Verify the registry\'s TLS certificate; --tls-verify=false accepts a self-signed one and allows plain HTTP (default true; loopback registries are never verified)')
    .option('--plain-http', 'Speak plain HTTP to the registry')
    .option('--authfile <file>', 'Credentials file (default $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json)')
    .option('--retries <n>', 'Attempts after a failure that may pass (connection lost or stalled, registry busy)', { default: 5 })
    .option('--timeout <seconds>', 'Give up on a connection not made, or a transfer moving less than 1 KiB, within this many seconds', { default: 30 });
}

/** An image on a registry as pull and push take it: a reference, or skopeo's docker://HOST/REPO[:TAG][@DIGEST]. */
export function registryReference(text: string): ImageReference {
  if (!isRegistryAddress(text)) return parseReference(text);
  const { registry, reference } = parseRegistryAddress(text);
  if (!reference) throw new UsageError(`${text} names a registry but no image (expected docker://${registry}/REPO[:TAG])`);
  return reference;
}

/** A store name given as docker://… (push's IMAGE), as the store knows it. */
export function storeReference(text: string): string {
  return isRegistryAddress(text) ? fullName(registryReference(text)) : text;
}

/** A registry as login and logout take it: "host[:port]", also accepted as a URL ("https://host:5000/v2/") the way docker does. */
export function registryHost(text: string): string {
  const host = text.replace(/^(?:https?|docker):\/\//, '').split('/')[0]!;
  if (!/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d+)?$/.test(host)) throw new UsageError(`invalid registry '${text}' (expected host[:port])`);
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

export function tlsVerify(flags: RegistryFlags): boolean | undefined {
  const value = flags.tlsVerify;
  if (value === undefined) return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new UsageError(`--tls-verify takes true or false, not '${String(value)}'`);
}

/**
 * The registry flags' values (retries, timeout, TLS and HTTP choices),
 * checked. A command whose registry end is known only later (copy) calls it
 * first, so a bad value is refused (2) whatever the ends turn out to be.
 */
export function registryFlagValues(flags: RegistryFlags): Omit<TransferOptions, 'credentials'> {
  const retries = Number(flags.retries ?? 5);
  if (!Number.isInteger(retries) || retries < 0 || retries > 100) throw new UsageError(`--retries must be a whole number from 0 to 100, not '${String(flags.retries)}'`);
  const timeout = Number(flags.timeout ?? 30);
  if (!(timeout >= 0.1 && timeout <= 86_400)) throw new UsageError(`--timeout must be a number of seconds from 0.1 to 86400, not '${String(flags.timeout)}'`);
  const verify = tlsVerify(flags);
  return {
    retries,
    timeoutMs: timeout * 1000,
    ...(verify !== undefined ? { tlsVerify: verify } : {}),
    ...(flags.plainHttp ? { plainHttp: true } : {}),
  };
}

/** The connection options for registry: registryFlagValues and the stored credentials for it if any. */
export async function registryOptions(flags: RegistryFlags, registry: string): Promise<TransferOptions> {
  const values = registryFlagValues(flags);
  const credentials = await readCredentials(registry, authFilePath(flags.authfile));
  return { ...values, ...(credentials ? { credentials } : {}) };
}

/** save and load take the registry flags for docker:// and --push only; given to an archive transfer they would silently do nothing. */
export function refuseRegistryFlags(flags: RegistryFlags, what: string): void {
  const given = [flags.tlsVerify !== undefined && '--tls-verify', flags.plainHttp && '--plain-http', flags.authfile !== undefined && '--authfile'].filter(Boolean);
  if (given.length > 0) throw new UsageError(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to registries only (docker://… or --push), not to ${what}`);
}

/** What this process's pushes have sent so far, for the line an interruption ends with. */
const sent = { registries: new Set<string>(), blobs: new Set<string>(), bytes: 0, tags: [] as string[] };

/**
 * An interrupted push cannot take back what the registry received: the line
 * says what that was, and that it does no harm, rather than "nothing was kept".
 */
function describeSent(): string {
  const where = [...sent.registries].join(', ');
  if (sent.blobs.size === 0 && sent.tags.length === 0) return `nothing was sent to ${where} yet`;
  const tags = sent.tags.length === 0 ? 'no tag' : `the ${sent.tags.length === 1 ? 'tag' : 'tags'} ${sent.tags.join(', ')}`;
  return `already sent to ${where}: ${count(sent.blobs.size, 'blob')} (${formatBytes(sent.bytes)}) and ${tags}; the registry keeps the blobs, which is harmless (no tag refers to them until a push completes, and the next push does not send them again)`;
}

/**
 * From now on an interruption says what this process has sent to registry
 * (push, save -o docker://, load --push, copy to docker://); the handler
 * returned records each blob as it is sent.
 */
export function trackSent(registry: string): (event: TransferEvent) => void {
  sent.registries.add(registry);
  sayOnInterrupt(describeSent);
  return (event) => {
    if (event.type === 'blob' && event.status === 'pushed' && !sent.blobs.has(event.digest)) {
      sent.blobs.add(event.digest);
      sent.bytes += event.size;
    }
  };
}

/** A push as --json shows it (push, save -o docker://, load --push). */
export interface PushedJson {
  reference: string;
  digest: Digest;
  size: number;
  mediaType: string;
  referrers: number;
}

/** Pushes one image as `rootfs push` shows it: the repository line and per-blob lines on stderr, "TAG: digest: … size: …" on stdout. */
export async function pushReported(reporter: Reporter, store: Store, source: string | Descriptor, destination: ImageReference, flags: RegistryFlags, options: PushOptions = {}): Promise<PushedJson> {
  reporter.info(`The push refers to repository [${destination.registry}/${destination.repository}]`);
  const record = trackSent(destination.registry);
  const display = transferDisplay(reporter, { exists: 'Layer already exists', copied: 'Pushed' });
  const result = await pushImage(store, source, destination, {
    ...(await registryOptions(flags, destination.registry)),
    ...options,
    onEvent: (event) => {
      record(event);
      display(event);
    },
  });
  sent.tags.push(familiarName(destination));
  const { digest, size, mediaType } = result.descriptor;
  reporter.result(`${destination.tag ?? digest}: digest: ${digest} size: ${size}`);
  if (result.referrers > 0) reporter.info(`${count(result.referrers, 'referrer')} pushed with it`);
  return { reference: familiarName(destination), digest, size, mediaType, referrers: result.referrers };
}

/**
 * Turns a move's events into docker-style lines ("a1b2c3d4e5f6: Pushed") and
 * a progress line of the blobs in flight; without done (a command that shows
 * progress of its own: load, save), only what is said: warnings, notices,
 * retries, conversions (format: the archive a conversion is for).
 */
export function transferDisplay(reporter: Reporter, done?: { exists: string; copied: string }, format?: string): (event: TransferEvent) => void {
  const active = new Map<string, { done: number; size: number }>();
  return (event) => {
    if (!done && (event.type === 'progress' || event.type === 'blob' || event.type === 'resume')) return;
    switch (event.type) {
      case 'progress':
        active.set(event.digest, { done: event.done, size: event.size });
        {
          const blobs = [...active.values()];
          const sum = (key: 'done' | 'size'): number => blobs.reduce((total, blob) => total + blob[key], 0);
          reporter.progress({ label: [...active.keys()].map(shortDigest).join(' '), bytes: sum('done'), total: sum('size') });
        }
        return;
      case 'blob':
        active.delete(event.digest);
        reporter.info(`${shortDigest(event.digest)}: ${event.status === 'exists' ? done!.exists : event.status === 'mounted' ? `Mounted from ${event.from}` : done!.copied}`);
        return;
      case 'resume':
        reporter.info(`${shortDigest(event.digest)}: upload interrupted; ${event.restarted ? 'the registry lost it, sending it again' : `resuming at ${formatBytes(event.offset)}`}`);
        return;
      case 'retry':
        reporter.info(`${event.message}; trying again (${event.attempt}/${event.of})`);
        return;
      case 'warning':
        reporter.warnOnce(event.message);
        return;
      case 'notice':
        reporter.noticeOnce(event.message);
        return;
      case 'convert':
        reporter.info(conversionLine(event.conversion, format));
        return;
    }
  };
}

/** Why a copy rewrites a layer, and how not to (a layer of gigabytes takes a while). */
export function conversionLine({ layer, from, to, why }: LayerConversion, format?: string): string {
  // A mislabelled layer whose bytes already are `to`: copied, only its media type changes.
  if (from === to) return `relabelling layer ${shortDigest(layer.digest)} as ${to} (--compression ${to})`;
  const what = `converting layer ${shortDigest(layer.digest)}: ${from} → ${to}`;
  return why === 'asked' ? `${what} (--compression ${to})` : `${what} for ${format ?? 'the destination'} (Docker ≤ 23 cannot read ${from}); --format oci-archive keeps ${from}`;
}
