/**
 * The HTTP layer under the registry client: node:http/https with a
 * keep-alive agent per registry, bodies as buffers or streamed writers, and
 * responses that stay streams (a blob is never buffered). Failures are raw
 * Node errors here; the client names the registry and turns them into
 * NetworkError.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

/** Idle time on a socket before a request is given up (a registry that stopped answering). */
const socketTimeoutMs = 120_000;
/** What is kept of a response that arrived before its request body was fully sent (an error document). */
const earlyResponseCap = 64 * 1024;

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

  constructor(tlsVerify: boolean) {
    this.httpsAgent = new https.Agent({ keepAlive: true, rejectUnauthorized: tlsVerify });
  }

  send(request: HttpRequest): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const secure = request.url.protocol === 'https:';
      const options = { method: request.method, headers: request.headers ?? {}, agent: secure ? this.httpsAgent : this.httpAgent };
      let bodySent = request.body === undefined || Buffer.isBuffer(request.body);
      const outgoing = (secure ? https : http).request(request.url, options, (response) => {
        if (bodySent) {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: response });
          return;
        }
        // The server answered before taking the whole body (an auth or size refusal): keep its
        // answer and drop the connection, which is the only way to stop the body mid-stream.
        readCapped(response, earlyResponseCap).then(
          (data) => {
            outgoing.destroy();
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Readable.from([data]) });
          },
          reject,
        );
      });
      outgoing.setTimeout(socketTimeoutMs, () => outgoing.destroy(Object.assign(new Error('no answer from the registry'), { code: 'ETIMEDOUT' })));
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

/** A small response body (JSON, an error document); refuses one larger than cap. */
export async function readCapped(body: Readable, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) {
      body.destroy();
      throw Object.assign(new Error(`response larger than ${cap} bytes`), { code: 'ERR_RESPONSE_TOO_LARGE' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Reads and drops a body so that the keep-alive connection can be reused. */
export async function discardBody(body: Readable): Promise<void> {
  body.resume();
  await finished(body).catch(() => undefined);
}
