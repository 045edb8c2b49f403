/**
 * An OCI distribution-spec client for one registry: the endpoints push and
 * pull need (/v2/ ping, manifests, blobs, blob uploads), authentication on
 * demand, redirects for blob downloads, bounded retries with backoff for
 * failures that may pass (connection refused or reset, timeouts, 5xx, 429),
 * and one-line errors that name the registry, repository and operation.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { DigestMismatchError, NetworkError, NotFoundError, RootfsError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import { MediaType, type Digest } from '../oci/types.js';
import { Authenticator, type TokenResponse } from './auth.js';
import type { Credentials } from './credentials.js';
import { HttpTransport, discardBody, readCapped, type BodyWriter, type HttpRequest, type HttpResponse } from './http.js';

export interface RegistryOptions {
  /** Verify the registry's TLS certificate (default true). False also allows falling back to plain HTTP, as skopeo does. */
  tlsVerify?: boolean;
  /** Speak plain HTTP only. */
  plainHttp?: boolean;
  credentials?: Credentials;
  /** Attempts after the first for a failure that may pass (default 5). */
  retries?: number;
  /** The first wait between attempts, doubled each time up to 30 s (default 1 s). */
  retryDelayMs?: number;
  /** Told the failure before each new attempt, so a user sees why things pause. */
  onRetry?: (message: string, attempt: number, of: number) => void;
}

/** A registry or network failure; `retryable` when trying again may succeed. */
export class RegistryError extends NetworkError {
  constructor(message: string, readonly status: number | undefined, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Manifest types we accept, in preference order (what docker and containerd send). */
const manifestAccept = [MediaType.ImageIndex, MediaType.DockerManifestList, MediaType.ImageManifest, MediaType.DockerManifest];
/** The distribution spec lets registries refuse manifests over 4 MiB; we refuse to read larger ones. */
const manifestSizeCap = 4 * 1024 * 1024;
const maxRedirects = 5;
const maxRetryDelayMs = 30_000;

interface Operation {
  repository: string;
  /** What is being done, for messages: "pushing blob sha256:…". */
  what: string;
  method: HttpRequest['method'];
  /** A path below the registry root, or a full URL (an upload Location). */
  target: string | URL;
  headers?: Record<string, string | number>;
  body?: Buffer | BodyWriter;
  push?: boolean;
  /** Further scopes the request needs (a mount's source repository). */
  extraScopes?: string[];
  expect: number[];
}

export class RegistryClient {
  private readonly transport: HttpTransport;
  private readonly auth: Authenticator;
  private base: URL | undefined;

  private constructor(readonly registry: string, private readonly options: RegistryOptions) {
    this.transport = new HttpTransport(options.tlsVerify ?? !isLoopback(registry));
    this.auth = new Authenticator(options.credentials, (realm, authorization) => this.fetchToken(realm, authorization));
  }

  /** Finds the registry's scheme (GET /v2/) and learns its authentication scheme. */
  static async connect(registry: string, options: RegistryOptions = {}): Promise<RegistryClient> {
    const client = new RegistryClient(registry, options);
    try {
      await client.ping();
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  close(): void {
    this.transport.close();
  }

  /**
   * https, else (with --tls-verify=false or a loopback registry, which docker
   * also treats as insecure) plain http after a failed TLS connection; only
   * http with --plain-http.
   */
  private async ping(): Promise<void> {
    const host = apiHost(this.registry);
    const insecure = this.options.tlsVerify === false || (this.options.tlsVerify === undefined && isLoopback(this.registry));
    const schemes = this.options.plainHttp ? ['http'] : insecure ? ['https', 'http'] : ['https'];
    let lastError: unknown;
    for (const scheme of schemes) {
      this.base = new URL(`${scheme}://${host}/`);
      try {
        await this.withRetries(async () => {
          const op: Operation = { repository: '', what: 'connecting', method: 'GET', target: '/v2/', expect: [200, 401] };
          const response = await this.sendOnce(op);
          if (!op.expect.includes(response.status)) throw await this.statusError(op, response);
          if (response.status === 401) this.auth.learn(header(response, 'www-authenticate'), []);
          await discardBody(response.body);
        }, scheme === schemes[schemes.length - 1]);
        return;
      } catch (err) {
        lastError = err;
        if (!(err instanceof RegistryError) || err.status !== undefined) throw err;
      }
    }
    throw lastError;
  }

  /** Checks credentials the way docker login does: an authenticated GET /v2/. */
  async verifyLogin(): Promise<void> {
    const response = await this.send({ repository: '', what: 'logging in', method: 'GET', target: '/v2/', expect: [200] });
    await discardBody(response.body);
  }

  async blobExists(repository: string, digest: Digest, push = false): Promise<boolean> {
    const response = await this.send({ repository, what: `checking blob ${digest}`, method: 'HEAD', target: `/v2/${repository}/blobs/${digest}`, push, expect: [200, 404] });
    await discardBody(response.body);
    return response.status === 200;
  }

  /** A manifest or index by tag or digest, as bytes (digests are taken over exactly these), checked against a digest reference. */
  async getManifest(repository: string, reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: Digest }> {
    const what = `fetching manifest ${reference}`;
    const response = await this.send({ repository, what, method: 'GET', target: `/v2/${repository}/manifests/${reference}`, headers: { accept: manifestAccept.join(', ') }, expect: [200] });
    let bytes: Buffer;
    try {
      bytes = await readCapped(response.body, manifestSizeCap);
    } catch (err) {
      throw this.failure(repository, what, err);
    }
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && reference !== digest) throw new DigestMismatchError(`${this.where(repository)}@${reference}`, reference as Digest, digest);
    const mediaType = mediaTypeOf(bytes) ?? header(response, 'content-type')?.split(';')[0]?.trim() ?? '';
    return { bytes, mediaType, digest };
  }

  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    const response = await this.send({ repository, what: `pushing manifest ${reference}`, method: 'PUT', target: `/v2/${repository}/manifests/${reference}`, headers: { 'content-type': mediaType, 'content-length': bytes.length }, body: bytes, push: true, expect: [201, 200, 202] });
    await discardBody(response.body);
  }

  /** The blob's bytes as a stream (following a redirect to the registry's storage); the caller verifies them. */
  async getBlob(repository: string, digest: Digest): Promise<Readable> {
    const response = await this.send({ repository, what: `fetching blob ${digest}`, method: 'GET', target: `/v2/${repository}/blobs/${digest}`, expect: [200] });
    return response.body;
  }

  /** Opens an upload; resolves to its Location. */
  async startUpload(repository: string): Promise<URL> {
    return (await this.postUpload(repository, 'starting an upload', '', [])).location;
  }

  /**
   * Asks the registry to link a blob from another of its repositories
   * (201: done, no bytes sent). Undefined when mounted; else the Location of
   * the upload a registry opens instead, which the bytes then go to.
   */
  async mountBlob(repository: string, digest: Digest, from: string): Promise<URL | undefined> {
    const query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    const started = await this.postUpload(repository, `mounting blob ${digest} from ${from}`, query, [`repository:${from}:pull`]);
    return started.status === 201 ? undefined : started.location;
  }

  private async postUpload(repository: string, what: string, query: string, extraScopes: string[]): Promise<{ status: number; location: URL }> {
    const response = await this.send({ repository, what, method: 'POST', target: `/v2/${repository}/blobs/uploads/${query}`, headers: { 'content-length': 0 }, push: true, extraScopes, expect: [201, 202] });
    await discardBody(response.body);
    return { status: response.status, location: this.location(repository, what, response) };
  }

  /** How many bytes of an upload the registry holds (its Range header), and where to continue. */
  async uploadStatus(repository: string, location: URL): Promise<{ offset: number; location: URL }> {
    const what = 'checking an upload';
    const response = await this.send({ repository, what, method: 'GET', target: location, push: true, expect: [204, 200] });
    await discardBody(response.body);
    const range = /^(?:bytes=)?0-(\d+)$/.exec(header(response, 'range') ?? '');
    return { offset: range ? Number(range[1]) + 1 : 0, location: this.location(repository, what, response, location) };
  }

  /** Sends bytes start..start+length-1 of an upload; resolves to where the next request goes. */
  async uploadChunk(repository: string, what: string, location: URL, start: number, length: number, body: BodyWriter): Promise<URL> {
    const response = await this.send({
      repository,
      what,
      method: 'PATCH',
      target: location,
      headers: { 'content-type': 'application/octet-stream', 'content-length': length, 'content-range': `${start}-${start + length - 1}` },
      body,
      push: true,
      expect: [202],
    });
    await discardBody(response.body);
    return this.location(repository, what, response, location);
  }

  /** Completes an upload with PUT ?digest=, sending the remaining `length` bytes (all of a monolithic upload, or none). */
  async completeUpload(repository: string, what: string, location: URL, digest: Digest, length: number, body?: BodyWriter): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const response = await this.send({
      repository,
      what,
      method: 'PUT',
      target: url,
      headers: { 'content-type': 'application/octet-stream', 'content-length': length },
      ...(body ? { body } : {}),
      push: true,
      expect: [201, 204],
    });
    await discardBody(response.body);
  }

  /** Runs fn again after failures that may pass, waiting longer each time; the last failure is thrown. */
  async withRetries<T>(fn: () => Promise<T>, retry = true): Promise<T> {
    const retries = retry ? this.options.retries ?? 5 : 0;
    let delay = this.options.retryDelayMs ?? 1000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof RegistryError) || !err.retryable || attempt >= retries) throw err;
        this.options.onRetry?.(err.message, attempt + 1, retries);
        await sleep(delay);
        delay = Math.min(delay * 2, maxRetryDelayMs);
      }
    }
  }

  /** One request, authenticating on a 401 and following redirects; a status outside `expect` throws. */
  private async send(op: Operation): Promise<HttpResponse> {
    let response = await this.sendOnce(op);
    const replayable = op.body === undefined || Buffer.isBuffer(op.body);
    if (response.status === 401 && replayable && this.auth.learn(header(response, 'www-authenticate'), scopes(op))) {
      await discardBody(response.body);
      response = await this.sendOnce(op);
    }
    for (let hops = 0; isRedirect(response.status) && (op.method === 'GET' || op.method === 'HEAD') && !op.expect.includes(response.status); hops++) {
      const location = header(response, 'location');
      await discardBody(response.body);
      if (!location || hops >= maxRedirects) throw new RegistryError(`${this.where(op.repository)}: ${op.what}: too many redirects`, response.status, false);
      response = await this.sendRaw(op, new URL(location, this.url(op.target)), undefined);
    }
    if (op.expect.includes(response.status)) return response;
    throw await this.statusError(op, response);
  }

  private async sendOnce(op: Operation): Promise<HttpResponse> {
    let authorization: string | undefined;
    try {
      authorization = await this.auth.authorization(scopes(op));
    } catch (err) {
      throw this.failure(op.repository, op.what, err);
    }
    return this.sendRaw(op, this.url(op.target), authorization);
  }

  private async sendRaw(op: Operation, url: URL, authorization: string | undefined): Promise<HttpResponse> {
    // Credentials go only to the registry itself, never to a storage host it redirects to.
    const sameOrigin = url.origin === this.base!.origin;
    const headers = { ...op.headers, ...(authorization && sameOrigin ? { authorization } : {}) };
    try {
      return await this.transport.send({ method: op.method, url, headers, ...(op.body !== undefined ? { body: op.body } : {}) });
    } catch (err) {
      throw this.failure(op.repository, op.what, err);
    }
  }

  private async fetchToken(realm: URL, authorization: string | undefined): Promise<TokenResponse> {
    const what = 'getting a token';
    let response: HttpResponse;
    try {
      response = await this.transport.send({ method: 'GET', url: realm, headers: authorization ? { authorization } : {} });
    } catch (err) {
      throw this.failure('', `${what} from ${realm.origin}`, err);
    }
    const body = await readCapped(response.body, 1024 * 1024).catch(() => Buffer.alloc(0));
    if (response.status === 401 || response.status === 403) throw new RegistryError(`${this.registry}: ${this.options.credentials ? 'authentication failed: the token server refused the credentials' : 'authentication required'} (${realm.origin})`, response.status, false);
    if (response.status !== 200) throw new RegistryError(`${this.registry}: ${what} from ${realm.origin}: HTTP ${response.status}`, response.status, response.status >= 500);
    try {
      return JSON.parse(body.toString('utf8')) as TokenResponse;
    } catch {
      throw new RegistryError(`${this.registry}: ${what} from ${realm.origin}: the answer is not JSON`, response.status, false);
    }
  }

  private url(target: string | URL): URL {
    return typeof target === 'string' ? new URL(target, this.base) : target;
  }

  /** An upload's Location header, resolved against the request (registries may send a relative one). */
  private location(repository: string, what: string, response: HttpResponse, requestUrl?: URL): URL {
    const value = header(response, 'location');
    if (!value) throw new RegistryError(`${this.where(repository)}: ${what}: the registry sent no Location for the upload`, response.status, false);
    return new URL(value, requestUrl ?? this.base);
  }

  private where(repository: string): string {
    return repository ? `${this.registry}/${repository}` : this.registry;
  }

  /** A transport failure (a Node error, such as a connection dropped mid-body) as a retryable RegistryError naming what was going on. */
  failure(repository: string, what: string, err: unknown): Error {
    // Our own errors (a blob damaged in the store, a refused token) are already what the user should see.
    if (err instanceof RootfsError) return err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const reason = describeNetworkError(err, this.options.tlsVerify !== false);
    const retryable = !/CERT|SELF_SIGNED|ERR_TLS|ENOTFOUND|ERR_RESPONSE_TOO_LARGE/.test(code);
    return new RegistryError(`${this.where(repository)}: ${what}: ${reason}`, undefined, retryable, { cause: err });
  }

  private async statusError(op: Operation, response: HttpResponse): Promise<Error> {
    const body = await readCapped(response.body, 64 * 1024).catch(() => Buffer.alloc(0));
    const detail = registryErrors(body);
    const where = `${this.where(op.repository)}: ${op.what}`;
    const status = response.status;
    if (status === 401) {
      const hint = this.auth.credentials ? 'authentication failed: unauthorized' : `authentication required (rootfs login ${this.registry})`;
      return new RegistryError(`${where}: ${hint}${detail ? ` (${detail})` : ''}`, status, false);
    }
    if (status === 403) return new RegistryError(`${where}: denied${detail ? `: ${detail}` : ''}`, status, false);
    if (status === 404) return new NotFoundError(`${where}: not found${detail ? ` (${detail})` : ''}`);
    const retryable = status >= 500 || status === 429 || status === 408;
    return new RegistryError(`${where}: the registry answered HTTP ${status}${detail ? `: ${detail}` : ''}`, status, retryable);
  }
}

function scopes(op: Operation): string[] {
  if (!op.repository) return [];
  return [`repository:${op.repository}:${op.push ? 'pull,push' : 'pull'}`, ...(op.extraScopes ?? [])];
}

function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** The mediaType a manifest or index declares in its body, which is what its digest covers. */
function mediaTypeOf(bytes: Buffer): string | undefined {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    return typeof value.mediaType === 'string' ? value.mediaType : undefined;
  } catch {
    return undefined;
  }
}

/** The distribution spec's error document, `{"errors":[{"code","message"}]}`, as one line. */
function registryErrors(body: Buffer): string {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    return (doc.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  } catch {
    return body.toString('utf8').trim().split('\n')[0]?.slice(0, 200) ?? '';
  }
}

function describeNetworkError(err: unknown, verifying: boolean): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset by the registry';
    case 'ETIMEDOUT':
      return 'timed out';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    default:
      if (/CERT|SELF_SIGNED/.test(code) && verifying) return `TLS certificate not trusted (${message}); for a registry with a self-signed certificate use --tls-verify=false`;
      if (/SSL|TLS|EPROTO/.test(code)) return `TLS error (${message}); for a registry that speaks plain HTTP use --plain-http`;
      return message;
  }
}

/** localhost, 127.0.0.0/8 and ::1: registries docker treats as insecure without being told. */
function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** Where the registry's API is: Docker Hub's name differs from its API host. */
function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}
