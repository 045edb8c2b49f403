/**
 * An OCI distribution-spec client for one registry: the endpoints push and
 * pull need (/v2/ ping, manifests, blobs, blob uploads), authentication on
 * demand, redirects for blob downloads, bounded retries with backoff for
 * failures that may pass (a connection reset or refused once the registry
 * has answered, timeouts and stalls, 5xx, 429), and one-line errors that
 * name the registry, repository and operation. Whatever the registry sends
 * that goes into a URL, a number or a message is checked or escaped here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { DigestMismatchError, NetworkError, NotFoundError, printable, RootfsError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import { MediaType, type Digest, type Index } from '../oci/types.js';
import { parseIndex } from '../oci/validate.js';
import { Authenticator, tokenFrom, type Token } from './auth.js';
import type { Credentials } from './credentials.js';
import { HttpTransport, defaultTimeoutMs, discardBody, readHead, type BodyWriter, type HttpRequest, type HttpResponse } from './http.js';
import { documentCaps, readCapped } from '../io/metadata.js';

export interface RegistryOptions {
  /** Verify the registry's TLS certificate (default true). False also allows falling back to plain HTTP, as skopeo does. */
  tlsVerify?: boolean;
  /** Speak plain HTTP only. */
  plainHttp?: boolean;
  credentials?: Credentials;
  /** How long a connection may take to open, and a transfer may stall (default 30 s). */
  timeoutMs?: number;
  /** Attempts after the first for a failure that may pass (default 5). */
  retries?: number;
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
const maxRedirects = 5;
/** The first wait between attempts, doubled each time up to maxRetryDelayMs. */
const firstRetryDelayMs = 1000;
const maxRetryDelayMs = 30_000;
/** How much of the registry's words a message quotes (of an error document read up to documentCaps.errorBody). */
const quotedCap = 200;

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
  /** Set once the registry has answered: a connection refused after that is a restart, worth retrying. */
  private answered = false;

  private constructor(readonly registry: string, private readonly options: RegistryOptions) {
    this.transport = new HttpTransport(options.tlsVerify ?? !isLoopback(registry), options.timeoutMs ?? defaultTimeoutMs);
    this.auth = new Authenticator(options.credentials, (realm, query, authorization) => this.fetchToken(realm, query, authorization));
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
        this.answered = true;
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

  /**
   * A manifest or index by tag or digest, as bytes (digests are taken over exactly these), checked against a digest reference.
   * The manifest requests (get, put, the referrers listing) are each retried whole here: their callers never wrap them.
   */
  async getManifest(repository: string, reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: Digest }> {
    return this.withRetries(async () => {
      const what = `fetching manifest ${reference}`;
      const response = await this.send({ repository, what, method: 'GET', target: `/v2/${repository}/manifests/${reference}`, headers: { accept: manifestAccept.join(', ') }, expect: [200] });
      let bytes: Buffer;
      try {
        bytes = await readCapped(response.body, 'image');
      } catch (err) {
        throw this.failure(repository, what, err);
      }
      const digest = sha256(bytes);
      if (reference.startsWith('sha256:') && reference !== digest) throw new DigestMismatchError(`${this.where(repository)}@${reference}`, reference as Digest, digest);
      this.checkClaimedDigest(response, digest, repository, what, 'the manifest it sent');
      const mediaType = mediaTypeOf(bytes) ?? header(response, 'content-type')?.split(';')[0]?.trim() ?? '';
      return { bytes, mediaType, digest };
    });
  }

  /** Returns the OCI-Subject header of the answer: a registry with the referrers API (OCI 1.1) names the subject it indexed the manifest under. Retried whole. */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<{ subject: string | undefined }> {
    return this.withRetries(async () => {
      const what = `pushing manifest ${reference}`;
      const response = await this.send({ repository, what, method: 'PUT', target: `/v2/${repository}/manifests/${reference}`, headers: { 'content-type': mediaType, 'content-length': bytes.length }, body: bytes, push: true, expect: [201, 200, 202] });
      await discardBody(response.body);
      this.checkClaimedDigest(response, sha256(bytes), repository, what, 'the manifest sent');
      return { subject: header(response, 'oci-subject') };
    });
  }

  /**
   * The referrers API (OCI 1.1): an index of the manifests whose subject is
   * digest. Undefined when the registry has no such API (404, or an answer
   * that is not an index, as registries before distribution 3 give): then
   * the referrers tag schema (`sha256-<hex>`) is where they are. Retried whole.
   */
  async getReferrers(repository: string, digest: Digest): Promise<Index | undefined> {
    return this.withRetries(async () => {
      const what = `listing the referrers of ${digest}`;
      const response = await this.send({ repository, what, method: 'GET', target: `/v2/${repository}/referrers/${digest}`, headers: { accept: MediaType.ImageIndex }, expect: [200, 404] });
      if (response.status === 404) {
        await discardBody(response.body);
        return undefined;
      }
      let bytes: Buffer;
      try {
        bytes = await readCapped(response.body, 'image');
      } catch (err) {
        throw this.failure(repository, what, err);
      }
      try {
        return parseIndex(JSON.parse(bytes.toString('utf8')), `${this.where(repository)}: referrers of ${digest}`);
      } catch {
        return undefined;
      }
    });
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

  /**
   * How many bytes of an upload of `size` bytes the registry holds (its Range
   * header, `0-LAST`), and where to continue; a Range that is not that, or
   * goes past the blob, is the registry talking nonsense.
   */
  async uploadStatus(repository: string, location: URL, size: number): Promise<{ offset: number; location: URL }> {
    const what = 'checking an upload';
    const response = await this.send({ repository, what, method: 'GET', target: location, push: true, expect: [204, 200] });
    await discardBody(response.body);
    const range = header(response, 'range');
    if (range === undefined) return { offset: 0, location: this.location(repository, what, response, location) };
    const last = /^(?:bytes=)?0-(\d{1,16})$/.exec(range);
    const offset = last ? Number(last[1]) + 1 : NaN;
    if (!(offset <= size)) throw new RegistryError(`${this.where(repository)}: ${what}: the registry sent an invalid Range ${quote(range)} for a blob of ${size} bytes`, response.status, false);
    return { offset, location: this.location(repository, what, response, location) };
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
    this.checkClaimedDigest(response, digest, repository, what, 'the blob sent');
  }

  /**
   * A Docker-Content-Digest header must name what was sent or received; only
   * sha256 can be checked here (another algorithm's digest is the registry's
   * business), but it must at least look like a digest.
   */
  private checkClaimedDigest(response: HttpResponse, digest: Digest, repository: string, what: string, of: string): void {
    const claimed = header(response, 'docker-content-digest');
    if (claimed === undefined || claimed === digest) return;
    if (!claimed.startsWith('sha256:') && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/.test(claimed)) return;
    throw new RegistryError(`${this.where(repository)}: ${what}: the registry's Docker-Content-Digest ${quote(claimed)} is not the digest of ${of} (${digest})`, response.status, false);
  }

  /**
   * Runs fn again after failures that may pass, waiting longer each time; the last failure is thrown. Placed around
   * one whole transfer, never a single request of one: a manifest get or put (here), a blob pulled (fetched, checked,
   * staged: image-ends.ts RegistrySource.retry) or pushed (exists, mount, upload with its resume: RegistryDestination.putBlob).
   */
  async withRetries<T>(fn: () => Promise<T>, retry = true): Promise<T> {
    const retries = retry ? this.options.retries ?? 5 : 0;
    let delay = firstRetryDelayMs;
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
      if (!location) throw new RegistryError(`${this.where(op.repository)}: ${op.what}: the registry answered HTTP ${response.status} without a Location`, response.status, false);
      if (hops >= maxRedirects) throw new RegistryError(`${this.where(op.repository)}: ${op.what}: too many redirects (more than ${maxRedirects})`, response.status, false);
      response = await this.sendRaw(op, this.registryUrl(location, this.url(op.target), op.repository, op.what), undefined);
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

  private async fetchToken(realmText: string, query: Array<[string, string]>, authorization: string | undefined): Promise<Token> {
    const realm = this.registryUrl(realmText, this.base!, '', 'getting a token');
    for (const [key, value] of query) realm.searchParams.append(key, value);
    const what = `getting a token from ${realm.origin}`;
    let response: HttpResponse;
    let body: Buffer;
    try {
      response = await this.transport.send({ method: 'GET', url: realm, headers: authorization ? { authorization } : {} });
      body = await readCapped(response.body, 'token');
    } catch (err) {
      throw this.failure('', what, err);
    }
    if (response.status === 401 || response.status === 403) throw new RegistryError(`${this.registry}: ${this.options.credentials ? 'authentication failed: the token server refused the credentials' : 'authentication required'} (${realm.origin})`, response.status, false);
    if (response.status !== 200) throw new RegistryError(`${this.registry}: ${what}: HTTP ${response.status}`, response.status, response.status >= 500 || response.status === 429);
    let answer: unknown;
    try {
      answer = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError(`${this.registry}: ${what}: the answer is not JSON`, response.status, false);
    }
    const token = tokenFrom(answer);
    if (!token) throw new RegistryError(`${this.registry}: ${what}: the answer holds no usable token (expected {"token": "…"})`, response.status, false);
    return token;
  }

  private url(target: string | URL): URL {
    return typeof target === 'string' ? new URL(target, this.base) : target;
  }

  /** An upload's Location header, resolved against the request (registries may send a relative one). */
  private location(repository: string, what: string, response: HttpResponse, requestUrl?: URL): URL {
    const value = header(response, 'location');
    if (!value) throw new RegistryError(`${this.where(repository)}: ${what}: the registry sent no Location for the upload`, response.status, false);
    return this.registryUrl(value, requestUrl ?? this.base!, repository, what);
  }

  /** Every URL the registry hands us (a redirect, an upload's Location, a token realm) is taken through here: http or https, or a one-line refusal. */
  private registryUrl(text: string, base: URL, repository: string, what: string): URL {
    let url: URL | undefined;
    try {
      url = new URL(text, base);
    } catch {
      url = undefined;
    }
    if (url?.protocol === 'http:' || url?.protocol === 'https:') return url;
    throw new RegistryError(`${this.where(repository)}: ${what}: the registry sent an invalid URL ${quote(text)}`, undefined, false);
  }

  private where(repository: string): string {
    return repository ? `${this.registry}/${repository}` : this.registry;
  }

  /**
   * A transport failure (a Node error, such as a connection dropped mid-body)
   * as a RegistryError naming what was going on; retryable when it may pass.
   */
  failure(repository: string, what: string, err: unknown): Error {
    // Our own errors (a blob damaged in the store, a refused token) are already what the user should see;
    // an error with no code is not the network's but a bug, and must show as one.
    if (err instanceof RootfsError || typeof (err as NodeJS.ErrnoException | undefined)?.code !== 'string') return err as Error;
    const code = (err as NodeJS.ErrnoException).code!;
    const retryable = transientCodes.has(code) || (code === 'ECONNREFUSED' && this.answered);
    return new RegistryError(`${this.where(repository)}: ${what}: ${describeNetworkError(err as NodeJS.ErrnoException, this.options.tlsVerify !== false)}`, undefined, retryable, { cause: err });
  }

  private async statusError(op: Operation, response: HttpResponse): Promise<Error> {
    const body = await readHead(response.body, documentCaps.errorBody).catch(() => Buffer.alloc(0));
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

/** The distribution spec's error document, `{"errors":[{"code","message"}]}`, as one short escaped line. */
function registryErrors(body: Buffer): string {
  let text: string;
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: unknown };
    if (!Array.isArray(doc.errors)) throw new Error('not an error document');
    const words = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
    text = doc.errors.map((e: { code?: unknown; message?: unknown } | null) => [words(e?.code), words(e?.message)].filter(Boolean).join(': ')).join('; ');
  } catch {
    text = body.toString('utf8').trim().split('\n')[0] ?? '';
  }
  return clip(printable(text));
}

/** Text the registry chose (a header, a URL), quoted and escaped for a message. */
function quote(text: string): string {
  return `'${clip(printable(text))}'`;
}

function clip(text: string): string {
  return text.length > quotedCap ? `${text.slice(0, quotedCap)}…` : text;
}

/** Failures that may pass on another attempt: the connection dropped, stalled or timed out, or a name lookup hiccupped. */
const transientCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_STALLED', 'ERR_CONNECT_TIMEOUT', 'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE']);

/** One line for a network failure, never OpenSSL's or Node's raw multi-line text. */
function describeNetworkError(err: NodeJS.ErrnoException, verifying: boolean): string {
  const code = err.code ?? '';
  const at = (err as { address?: unknown }).address;
  const port = (err as { port?: unknown }).port;
  const address = typeof at === 'string' ? ` (${at.includes(':') ? `[${at}]` : at}${typeof port === 'number' ? `:${port}` : ''})` : '';
  const firstLine = printable(err.message.split('\n')[0] ?? '');
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused${address}`;
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return 'connection reset by the registry';
    case 'ETIMEDOUT':
      return `timed out${address}`;
    case 'ERR_STALLED':
    case 'ERR_CONNECT_TIMEOUT':
      return firstLine;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ERR_RESPONSE_TOO_LARGE':
      return firstLine;
    default:
      if (code.startsWith('HPE_')) return `the registry sent a malformed HTTP response (${code})`;
      if (/wrong version number|packet length too long|http request/i.test(err.message)) return 'the registry does not speak TLS here; use --plain-http';
      if (code in certificateProblems) return verifying ? `TLS certificate not trusted (${certificateProblems[code]}); for a registry with a self-signed certificate use --tls-verify=false` : `TLS certificate refused (${certificateProblems[code]})`;
      if (/CERT|SELF_SIGNED/.test(code)) return verifying ? `TLS certificate not trusted (${code}); for a registry with a self-signed certificate use --tls-verify=false` : `TLS certificate refused (${code})`;
      if (/SSL|TLS|EPROTO/.test(code)) return `TLS handshake failed (${tlsReason(err)})`;
      return firstLine;
  }
}

/** Node's codes for the certificate failures users meet, in words. */
const certificateProblems: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown issuer',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown issuer',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not yet valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'issued for another host name',
};

/** OpenSSL's reason ("sslv3 alert handshake failure"), without its library, file and line. */
function tlsReason(err: NodeJS.ErrnoException): string {
  const reason = (err as { reason?: unknown }).reason;
  if (typeof reason === 'string') return printable(reason);
  const match = /error:[0-9A-F]+:[^:]*:[^:]*:([^:\n]+)/.exec(err.message);
  return printable(match?.[1] ?? err.code ?? 'unknown');
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
