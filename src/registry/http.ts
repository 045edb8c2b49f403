/**
 * The HTTP layer under the registry client: node:http/https with a
 * keep-alive agent per registry, bodies as buffers or streamed writers, and
 * responses that stay streams (a blob is never buffered). Every request is
 * watched here for stalls (see watch()). Failures are raw Node errors here;
 * the client names the registry and turns them into NetworkError.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { readCapped } from '../io/metadata.js';

/** The default of --timeout: how long a connection may take to open, and a transfer may go without progress. */
export const defaultTimeoutMs = 30_000;
/**
 * Less than this moved in one timeout window is a stall, not progress: a
 * registry that trickles a byte now and then must not hold a pull forever.
 */
const stallBytes = 1024;

/** Streams a request body into the request; it must end the request once done. */
export type BodyWriter = (request: http.ClientRequest) => Promise<void>;

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string | number>;
  body?: Buffer | BodyWriter;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

export class HttpTransport {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;

  constructor(tlsVerify: boolean, private readonly timeoutMs = defaultTimeoutMs) {
    this.httpsAgent = new https.Agent({ keepAlive: true, rejectUnauthorized: tlsVerify });
  }

  send(request: HttpRequest): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const secure = request.url.protocol === 'https:';
      const options = { method: request.method, headers: request.headers ?? {}, agent: secure ? this.httpsAgent : this.httpAgent };
      let bodySent = request.body === undefined || Buffer.isBuffer(request.body);
      const outgoing = (secure ? https : http).request(request.url, options, (response) => {
        watchdog.watchBody(response);
        if (bodySent) {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: response });
          return;
        }
        // The server answered before taking the whole body (an auth or size refusal): keep its
        // answer and drop the connection, which is the only way to stop the body mid-stream.
        readCapped(response, 'errorBody').then(
          (data) => {
            outgoing.destroy();
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Readable.from([data]) });
          },
          reject,
        );
      });
      const watchdog = watch(outgoing, secure, this.timeoutMs);
      outgoing.on('error', reject);
      if (request.body === undefined) outgoing.end();
      else if (Buffer.isBuffer(request.body)) outgoing.end(request.body);
      else {
        request.body(outgoing).then(
          () => {
            bodySent = true;
          },
          (err: unknown) => {
            outgoing.destroy(err as Error);
            reject(err);
          },
        );
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/**
 * Fails a request that stalls: no connection (TCP and TLS) within timeoutMs,
 * or, once connected, less than stallBytes sent or received in any window
 * of timeoutMs until its response body has ended. Time the body spends
 * waiting for us (its buffer full because the store's disk is slow) is not
 * the registry's stall.
 */
function watch(request: http.ClientRequest, secure: boolean, timeoutMs: number): { watchBody(response: IncomingMessage): void } {
  let socket: Socket | undefined;
  let connected = false;
  let body: IncomingMessage | undefined;
  let last = 0;
  const moved = (): number => (socket ? socket.bytesRead + socket.bytesWritten : 0);
  request.on('socket', (assigned: Socket) => {
    socket = assigned;
    last = moved();
    if (!assigned.connecting) connected = true;
    else assigned.once(secure ? 'secureConnect' : 'connect', () => (connected = true));
  });
  const seconds = `${timeoutMs / 1000} s`;
  const timer = setInterval(() => {
    const now = moved();
    const waitingForUs = body !== undefined && body.readableLength > 0;
    if (connected && (waitingForUs || now - last >= stallBytes)) {
      last = now;
      return;
    }
    stop();
    const err = connected
      ? Object.assign(new Error(`stalled: less than ${stallBytes} bytes moved in ${seconds} (see --timeout)`), { code: 'ERR_STALLED' })
      : Object.assign(new Error(`no connection within ${seconds} (see --timeout)`), { code: 'ERR_CONNECT_TIMEOUT' });
    if (body) body.destroy(err);
    else request.destroy(err);
  }, timeoutMs);
  const stop = (): void => clearInterval(timer);
  request.once('close', () => {
    if (!body) stop();
  });
  return {
    watchBody(response) {
      body = response;
      response.once('close', stop);
    },
  };
}

/** Writes one chunk with backpressure; fails if the request is torn down meanwhile. */
export function writeChunk(request: http.ClientRequest, chunk: Buffer): Promise<void> {
  if (request.destroyed) return Promise.reject(connectionClosed());
  if (request.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      request.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      request.off('drain', onDrain);
      reject(connectionClosed());
    };
    request.once('drain', onDrain);
    request.once('close', onClose);
  });
}

/** Ends the request body and resolves once it is handed to the socket. */
export function endRequest(request: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => request.end(resolve));
}

function connectionClosed(): Error {
  return Object.assign(new Error('connection closed while sending'), { code: 'ECONNRESET' });
}

/** The first `cap` bytes of a body (an error document that may go on and on); the rest is not read. */
export async function readHead(body: Readable, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= cap) break;
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, cap);
}

/** Reads and drops a body so that the keep-alive connection can be reused. */
export async function discardBody(body: Readable): Promise<void> {
  body.resume();
  await finished(body).catch(() => undefined);
}
