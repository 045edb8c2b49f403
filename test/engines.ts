/**
 * The real container engines (Debian's containerd, Docker Engine 20.10 and
 * podman 4.3) for interop tests, each with every path it writes in one temp
 * dir: containerd and dockerd run in the background in their own process
 * groups and are stopped by PID; podman has no daemon, only its config files.
 * An engine that cannot start is reported with its reason, so that the tests
 * needing it skip loudly (requireEngine), never silently.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { readMountPoints } from '../src/pack/mounts.js';
import { atEnd, each, every, run, runOk, skipLoudly, waitFor, type RunOptions, type RunResult } from './helpers.js';
import { blobInfoCache } from './registry-server.js';

export interface Engine {
  name: 'containerd' | 'docker' | 'podman';
  /** Why the engine cannot be used here; undefined when it runs. */
  unavailable?: string;
  /** Its client (ctr, /usr/bin/docker, podman) pointed at this engine; throws with stderr on failure. */
  cli(args: string[], options?: RunOptions): Promise<RunResult>;
  /** The same, returning the result whatever the exit code. */
  try(args: string[], options?: RunOptions): Promise<RunResult>;
}

export interface Engines {
  containerd: Engine;
  docker: Engine;
  podman: Engine;
  /** ctr run needs its runtime's state and FIFOs somewhere: these keep them out of /run/containerd. */
  ctrRunFlags: string[];
}

/** Another docker may come first in PATH; the engine's own client is Debian's. */
const binaries = { containerd: '/usr/bin/containerd', ctr: '/usr/bin/ctr', dockerd: '/usr/sbin/dockerd', docker: '/usr/bin/docker', podman: '/usr/bin/podman', runc: '/usr/sbin/runc' };

/** Long enough for a loaded 2-core machine; the wait ends at once when the daemon exits. */
const startDeadline = 60_000;
const pollInterval = 200;

/**
 * Starts containerd and dockerd (on that containerd) and configures podman,
 * all under one temp dir; `insecureRegistries` go into docker's daemon.json.
 * Everything is stopped, unmounted and removed when `t` ends.
 */
export async function startEngines(t: TestContext, options: { insecureRegistries?: string[] } = {}): Promise<Engines> {
  const root = mkdtempSync(join(tmpdir(), 'rootfs-engines-'));
  const daemons: ChildProcess[] = [];
  atEnd(t, async () => {
    for (const daemon of daemons.reverse()) await stopGroup(daemon);
    killStragglers(root);
    await unmountUnder(root);
    if (!process.env.ROOTFS_KEEP_TMP) rmSync(root, { recursive: true, force: true });
  });

  const containerdSocket = join(root, 'containerd.sock');
  const containerd = engine('containerd', binaries.ctr, ['-a', containerdSocket]);
  containerd.unavailable = missing(binaries.containerd, binaries.ctr, binaries.runc);
  if (!containerd.unavailable) {
    const config = join(root, 'containerd.toml');
    writeFileSync(config, [
      'version = 2',
      `root = "${join(root, 'containerd', 'root')}"`,
      `state = "${join(root, 'containerd', 'state')}"`,
      // The CRI plugin wants CNI and a kubelet; nothing here uses it.
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${containerdSocket}"`,
      '[ttrpc]',
      `  address = "${containerdSocket}.ttrpc"`,
      '[debug]',
      `  address = "${join(root, 'containerd-debug.sock')}"`,
      '',
    ].join('\n'));
    containerd.unavailable = await startDaemon(daemons, binaries.containerd, ['--config', config], join(root, 'containerd.log'), () => containerd.try(['version']));
  }

  const dockerSocket = join(root, 'docker.sock');
  const dockerConfig = join(root, 'docker-client');
  const docker = engine('docker', binaries.docker, ['-H', `unix://${dockerSocket}`], { DOCKER_CONFIG: dockerConfig });
  docker.unavailable = containerd.unavailable ? `containerd, which it runs on, is unavailable (${containerd.unavailable})` : missing(binaries.dockerd, binaries.docker);
  if (!docker.unavailable) {
    mkdirSync(dockerConfig);
    const daemonJson = join(root, 'daemon.json');
    writeFileSync(daemonJson, JSON.stringify({ 'insecure-registries': options.insecureRegistries ?? [] }));
    // overlay2 is what people run; vfs (a full copy per layer) works on any filesystem.
    for (const driver of ['overlay2', 'vfs']) {
      const data = join(root, `docker-${driver}`);
      const args = [
        '--config-file', daemonJson, '--containerd', containerdSocket,
        '--iptables=false', '--ip6tables=false', '--bridge=none', `--storage-driver=${driver}`,
        '--data-root', join(data, 'data'), '--exec-root', join(data, 'exec'), '--pidfile', join(data, 'docker.pid'),
        '-H', `unix://${dockerSocket}`,
      ];
      docker.unavailable = await startDaemon(daemons, binaries.dockerd, args, join(root, `dockerd-${driver}.log`), () => docker.try(['info']));
      if (!docker.unavailable) break;
      await stopGroup(daemons.pop()!);
      await unmountUnder(data);
    }
  }

  const podmanDir = join(root, 'podman');
  const podman = engine('podman', binaries.podman, ['--runtime-flag', `root=${join(podmanDir, 'runc')}`], {
    CONTAINERS_STORAGE_CONF: join(root, 'storage.conf'),
    CONTAINERS_CONF: join(root, 'containers.conf'),
  });
  podman.unavailable = missing(binaries.podman, binaries.runc);
  if (!podman.unavailable) {
    mkdirSync(podmanDir);
    writeFileSync(join(root, 'storage.conf'), `[storage]\ndriver = "overlay"\nrunroot = "${join(podmanDir, 'run')}"\ngraphroot = "${join(podmanDir, 'graph')}"\n`);
    writeFileSync(join(root, 'containers.conf'), [
      '[containers]',
      // These VMs lack CAP_SYS_RESOURCE: podman's default ulimits cannot be set.
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      '[network]',
      `network_config_dir = "${join(podmanDir, 'networks')}"`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      // crun refuses the hybrid cgroup v1/v2 hierarchy these machines have; runc takes it.
      'runtime = "runc"',
      `events_logfile_path = "${join(podmanDir, 'events.log')}"`,
      `tmp_dir = "${join(podmanDir, 'tmp')}"`,
      `static_dir = "${join(podmanDir, 'libpod')}"`,
      `volume_path = "${join(podmanDir, 'volumes')}"`,
      `image_copy_tmp_dir = "${join(podmanDir, 'copy')}"`,
      '',
    ].join('\n'));
    mkdirSync(join(podmanDir, 'copy'));
    const info = await podman.try(['info']);
    if (info.code !== 0) podman.unavailable = `podman info exited ${info.code}: ${lastLines(info.stderr)}`;
  }

  const runDir = join(root, 'ctr-run');
  return { containerd, docker, podman, ctrRunFlags: ['--runc-root', join(runDir, 'runc'), '--fifo-dir', join(runDir, 'fifo')] };
}

/**
 * True when the engine runs; otherwise skips the test, saying why on stderr in
 * capitals (CI installs every engine, so a skip there is a CI bug to look at).
 */
export function requireEngine(t: TestContext, ...engines: Engine[]): boolean {
  const down = engines.filter((engine) => engine.unavailable);
  if (down.length === 0) return true;
  skipLoudly(t, `SKIPPED: ${down.map((engine) => `${engine.name} cannot run here: ${engine.unavailable}`).join('; ')} (install it as .ci/run does)`);
  return false;
}

function engine(name: Engine['name'], client: string, globalArgs: string[], env: Record<string, string> = {}): Engine {
  const call = (options: RunOptions = {}): RunOptions & { env: Record<string, string | undefined> } => {
    // podman shares skopeo's blob-info cache, which can substitute a layer it saw before (see registry-server.ts).
    if (name === 'podman') rmSync(blobInfoCache, { force: true });
    return { ...options, env: { ...env, ...options.env } };
  };
  return {
    name,
    cli: (args, options) => runOk(client, [...globalArgs, ...args], call(options)),
    try: (args, options) => run(client, [...globalArgs, ...args], call(options)),
  };
}

function missing(...paths: string[]): string | undefined {
  const absent = paths.filter((path) => !existsSync(path));
  return absent.length > 0 ? `not installed: ${absent.join(', ')} (install docker.io podman containerd as .ci/run does)` : undefined;
}

/**
 * Spawns a daemon in its own process group, logging to a file, and asks
 * `ready` (a daemon starting to answer announces it to nobody) until it
 * answers; returns why not when the daemon exits or never answers.
 */
async function startDaemon(daemons: ChildProcess[], command: string, args: string[], log: string, ready: () => Promise<RunResult>): Promise<string | undefined> {
  const fd = openSync(log, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  daemons.push(child);
  let exited = false;
  child.on('exit', () => (exited = true));
  child.on('error', () => (exited = true));
  const answering = async (): Promise<boolean> => exited || (await ready()).code === 0;
  try {
    await waitFor(`${command} to answer`, answering, [every(pollInterval), each(child, 'exit'), each(child, 'error')], startDeadline);
  } catch {
    return `${command} did not answer after ${startDeadline / 1000} s: ${lastLines(readFileSync(log, 'utf8'))}`;
  }
  return exited ? `${command} exited at start: ${lastLines(readFileSync(log, 'utf8'))}` : undefined;
}

/** SIGTERM to the daemon's process group, then SIGKILL if it has not exited after a bounded wait. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise((resolve) => child.once('exit', resolve));
  signalGroup(child.pid, 'SIGTERM');
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const stopped = await waitFor(`${child.pid} to exit on SIGTERM`, gone, [each(child, 'exit')], 30_000).then(
    () => true,
    () => false,
  );
  if (stopped) return;
  signalGroup(child.pid, 'SIGKILL');
  await exit;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

/**
 * containerd's shims (one per container) detach into their own sessions; one
 * left by a failed test names our socket on its command line. Killed by PID.
 */
function killStragglers(root: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let commandLine: string;
    try {
      commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (commandLine.includes(root)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }
}

/**
 * Unmounts every mount point under dir (overlay layers, podman's private bind
 * of its graph root), deepest first, and again for mounts stacked on one point.
 */
async function unmountUnder(dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const points = [...readMountPoints()].filter((point) => point === dir || point.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
    if (points.length === 0) return;
    for (const point of points) {
      if ((await run('umount', [point])).code !== 0) await run('umount', ['-l', point]);
    }
  }
}

function lastLines(text: string, count = 3): string {
  return text.trim().split('\n').slice(-count).join(' | ');
}
