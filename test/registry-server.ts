/**
 * A real docker-registry (distribution 2.x) for tests: config in a temp dir,
 * filesystem storage, 127.0.0.1 on a free port, stopped by PID when the test
 * ends. restart() brings it back on the same port and storage, as after a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, get } from 'node:http';
import { get as getTls } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { atEnd, each, every, makeTempDir, runOk, waitFor } from './helpers.js';

export interface RegistryServer {
  host: string; // 127.0.0.1:PORT
  port: number;
  /** The filesystem storage root (docker/registry/v2/...). */
  storage: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Starts docker-registry; with `users`, behind htpasswd basic auth (bcrypt
 * lines made by apache2-utils' htpasswd); with `tls`, on https with a
 * self-signed certificate for 127.0.0.1 made by openssl.
 */
export async function startRegistry(t: TestContext, options: { users?: Record<string, string>; tls?: boolean; token?: TokenServer } = {}): Promise<RegistryServer> {
  const dir = makeTempDir(t, 'rootfs-registry-');
  const port = await freePort();
  let auth = '';
  if (options.users) {
    const lines: string[] = [];
    for (const [user, password] of Object.entries(options.users)) lines.push((await runOk('htpasswd', ['-Bbn', user, password])).stdout.toString().trim());
    writeFileSync(join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
    auth = `auth: {htpasswd: {realm: rootfs-test, path: ${join(dir, 'htpasswd')}}}\n`;
  }
  if (options.token) {
    const { realm, service, issuer, certificate } = options.token;
    auth = `auth: {token: {realm: "${realm}", service: ${service}, issuer: ${issuer}, rootcertbundle: ${certificate}}}\n`;
  }
  let tls = '';
  if (options.tls) {
    const { certificate, key } = await selfSigned(dir);
    tls = `, tls: {certificate: ${certificate}, key: ${key}}`;
  }
  // A fixed secret keeps upload state tokens valid across a restart, as in a real deployment.
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${join(dir, 'storage')}}}\nhttp: {addr: 127.0.0.1:${port}, secret: rootfs-test-secret${tls}}\n${auth}`);

  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const started = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    started.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child = started;
    // A port starting to answer announces itself to nobody: asked again every 50 ms, for 10 s at most.
    const answering = async (): Promise<boolean> => {
      if (started.exitCode !== null) throw new Error(`docker-registry exited ${started.exitCode}: ${stderr}`);
      return answers(port, options.tls ?? false);
    };
    await waitFor(() => `docker-registry to answer on 127.0.0.1:${port} (its stderr: ${stderr})`, answering, [every(50), each(started, 'exit')], 10_000);
  };
  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGKILL');
    await exited;
  };
  atEnd(t, kill);
  await start();
  return {
    host: `127.0.0.1:${port}`,
    port,
    storage: join(dir, 'storage'),
    kill,
    restart: async () => {
      await kill();
      await start();
    },
  };
}

function answers(port: number, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const request = (tls ? getTls : get)({ host: '127.0.0.1', port, path: '/v2/', rejectUnauthorized: false }, (response) => {
      response.resume();
      resolve(response.statusCode === 200 || response.statusCode === 401);
    });
    request.on('error', () => resolve(false));
  });
}

/** A self-signed certificate for 127.0.0.1 and its key, made by openssl. */
async function selfSigned(dir: string): Promise<{ certificate: string; key: string }> {
  const certificate = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', certificate]);
  return { certificate, key };
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** The certificate whose key signs the tokens: the registry's rootcertbundle. */
  certificate: string;
  /** Each token request: its scopes and the user it authenticated (undefined: anonymous). */
  requests: Array<{ scopes: string[]; user: string | undefined }>;
}

/**
 * A token server as distribution's token auth expects: basic credentials in,
 * a JWT signed RS256 with the certificate in its x5c header out, granting
 * the requested actions to known users and nothing to anonymous callers.
 */
export async function startTokenServer(t: TestContext, users: Record<string, string>): Promise<TokenServer> {
  const dir = makeTempDir(t, 'rootfs-token-');
  const { certificate, key } = await selfSigned(dir);
  const der = new X509Certificate(readFileSync(certificate)).raw.toString('base64');
  const signingKey = createPrivateKey(readFileSync(key));
  const service = 'rootfs-test';
  const issuer = 'rootfs-test-issuer';
  const requests: TokenServer['requests'] = [];
  const server = createHttpServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '');
    const [user, ...rest] = basic ? Buffer.from(basic[1]!, 'base64').toString().split(':') : [];
    if (user !== undefined && users[user] !== rest.join(':')) {
      response.writeHead(401).end('{"details":"bad credentials"}');
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    requests.push({ scopes, user });
    const access = user === undefined ? [] : scopes.map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: actions!.split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${encode({ typ: 'JWT', alg: 'RS256', x5c: [der] })}.${encode({ iss: issuer, sub: user ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access })}`;
    const token = `${unsigned}.${sign('sha256', Buffer.from(unsigned), signingKey).toString('base64url')}`;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  atEnd(t, () => server.close());
  return { realm: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, service, issuer, certificate, requests };
}

export const blobInfoCache = '/var/lib/containers/cache/blob-info-cache-v1.boltdb';

/** skopeo's stdout, run without its blob cache (which can substitute a layer it saw before). */
export async function skopeo(...args: string[]): Promise<string> {
  rmSync(blobInfoCache, { force: true });
  return (await runOk('skopeo', args)).stdout.toString();
}

/** The manifest digest skopeo sees at docker://REF. */
export async function remoteDigest(ref: string): Promise<string> {
  return (JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${ref}`)) as { Digest: string }).Digest;
}
