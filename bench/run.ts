/**
 * `npm run bench`: times our commands against the standard tools on the same
 * input, in one run, and prints medians, the ratio ours/theirs and peak RSS.
 *
 * Inputs are built here: a debootstrap minbase root (cached in .bench-cache/,
 * needs root and Debian's archive), this machine's /usr/share and /usr. Every
 * command writes to a pipe or a real file, never to /dev/null directly: GNU
 * tar skips reading file contents when its output is /dev/null.
 *
 * Options: --reps N (default 3), --only NAME[,NAME] (pack,pipeline,import,import sbom,import --base,re-capture,save delta,save,load,copy,push,pull,squash,split),
 * --quick (the debootstrap root only: no /usr/share, no /usr), --rootfs BIN (time another build's
 * bin/rootfs.js, for an A/B of two commits on one machine in one run).
 * docs/benchmarks.md has the figures and how to read them.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commitImage } from '../src/image/commit.js';
import { importTarball } from '../src/image/import.js';
import { parseReference } from '../src/oci/reference.js';
import type { Descriptor, Digest } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { resolveImage } from '../src/store/resolve.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const cache = join(repo, '.bench-cache');
const work = join(cache, 'work');
const timing = join(work, 'time.out');
const skopeoCache = '/var/lib/containers/cache/blob-info-cache-v1.boltdb';

const args = process.argv.slice(2);
const reps = args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 3;
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;
const quick = args.includes('--quick');

/** Prefix for every timed process: GNU time appends its peak RSS (KiB) and CPU seconds (user, system) to the timing file. */
const T = `/usr/bin/time -a -o ${timing} -f '%M %U %S'`;
const rootfsBin = args.includes('--rootfs') ? args[args.indexOf('--rootfs') + 1]! : join(repo, 'bin/rootfs.js');
const rootfs = (store: string): string => `${T} ${process.execPath} ${rootfsBin} --store ${store} -q`;

interface Sample {
  seconds: number;
  /** The largest peak RSS of the timed processes (a pipeline's stages each report their own). */
  peakRssMb: number;
  /** User + system CPU of all the timed processes: what a busy machine's wall time hides. */
  cpuSeconds: number;
}

interface Row {
  group: string;
  input: string;
  inputMb: number;
  ours: string;
  theirs: string;
  oursSample: Sample;
  theirsSample: Sample;
}

const rows: Row[] = [];
const failures: string[] = [];

function sh(command: string): string {
  const result = spawnSync('bash', ['-o', 'pipefail', '-c', command], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) throw new Error(`bench: '${command}' failed (exit ${result.status}): ${result.stderr}`);
  return result.stdout;
}

function measure(command: string): Sample {
  rmSync(timing, { force: true });
  const started = process.hrtime.bigint();
  sh(command);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const lines = readFileSync(timing, 'utf8').trim().split('\n').map((line) => line.split(' ').map(Number)).filter((fields) => fields.length === 3 && fields.every(Number.isFinite));
  return { seconds, peakRssMb: Math.max(...lines.map(([rss]) => rss!)) / 1024, cpuSeconds: lines.reduce((sum, [, user, system]) => sum + user! + system!, 0) };
}

function median(samples: Sample[]): Sample {
  const sorted = [...samples].sort((a, b) => a.seconds - b.seconds);
  const middle = sorted[Math.floor(sorted.length / 2)]!;
  return { seconds: middle.seconds, peakRssMb: Math.max(...samples.map((s) => s.peakRssMb)), cpuSeconds: middle.cpuSeconds };
}

/** Runs ours and theirs alternately, reps times each, so drift in machine load hits both alike. */
function compare(group: string, input: Input, ours: string, theirs: string, prepare?: () => void, label = group): void {
  if (only && !only.includes(group)) return;
  const oursSamples: Sample[] = [];
  const theirsSamples: Sample[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      prepare?.();
      oursSamples.push(measure(ours));
      prepare?.();
      theirsSamples.push(measure(theirs));
    }
  } catch (err) {
    // One failed comparison (a file changed under pack, a peer's error) should not cost the rest of a long run.
    failures.push(`${label} ${input.name}: ${(err as Error).message.trim()}`);
    process.stdout.write(`${label.padEnd(16)} ${input.name.padEnd(12)} FAILED: ${(err as Error).message.trim()}\n`);
    return;
  }
  const row = { group: label, input: input.name, inputMb: input.mb, ours, theirs, oursSample: median(oursSamples), theirsSample: median(theirsSamples) };
  rows.push(row);
  const ratio = row.oursSample.seconds / row.theirsSample.seconds;
  process.stdout.write(
    `${label.padEnd(16)} ${input.name.padEnd(12)} ${input.mb.toFixed(0).padStart(5)} MB | ours ${row.oursSample.seconds.toFixed(2).padStart(6)} s ${row.oursSample.peakRssMb.toFixed(0).padStart(4)} MB cpu ${row.oursSample.cpuSeconds.toFixed(2)} s | ` +
      `theirs ${row.theirsSample.seconds.toFixed(2).padStart(6)} s ${row.theirsSample.peakRssMb.toFixed(0).padStart(4)} MB cpu ${row.theirsSample.cpuSeconds.toFixed(2)} s | ratio ${ratio.toFixed(2)}\n`,
  );
}

function remove(...paths: string[]): void {
  for (const path of paths) rmSync(path, { recursive: true, force: true });
}

interface Input {
  name: string;
  dir: string;
  /** Size of its tar. */
  mb: number;
  /** A tar of the tree (GNU tar), the input of import. */
  tar: string;
}

function debootstrapRoot(): string {
  const dir = join(cache, 'bookworm-minbase');
  if (!existsSync(join(dir, 'etc/os-release'))) {
    process.stderr.write('bench: building a debootstrap minbase root (cached in .bench-cache/)\n');
    remove(dir);
    sh(`debootstrap --variant=minbase bookworm ${dir} >/dev/null`);
  }
  return dir;
}

function tarOf(name: string, dir: string): Input {
  const tar = join(work, `${name.replace(/\W/g, '')}.tar`);
  if (!existsSync(tar)) sh(`tar --numeric-owner -cf ${tar}.tmp -C ${dir} . && mv ${tar}.tmp ${tar}`);
  return { name, dir, tar, mb: statSync(tar).size / 1e6 };
}

/**
 * A three-layer image of the tree: its top-level entries dealt into three
 * tars (so each layer is about a third), each imported as a gzip layer, then
 * one image over all three. squash and save/load run on it.
 */
async function threeLayerImage(input: Input, store: Store, tag: string): Promise<Digest[]> {
  const names = readdirSync(input.dir).sort();
  const sizes = new Map(names.map((name) => [name, Number(sh(`du -sb ${join(input.dir, name)} | cut -f1`).trim())]));
  const groups: string[][] = [[], [], []];
  const load = [0, 0, 0];
  for (const name of [...names].sort((a, b) => sizes.get(b)! - sizes.get(a)!)) {
    const lightest = load.indexOf(Math.min(...load));
    groups[lightest]!.push(name);
    load[lightest]! += sizes.get(name)!;
  }
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (const [i, group] of groups.entries()) {
    const part = join(work, `part${i}.tar`);
    sh(`tar --numeric-owner -cf ${part} -C ${input.dir} ${group.map((n) => `'${n}'`).join(' ')}`);
    const imported = await importTarball(store, createReadStream(part), { source: part, tags: [] });
    layers.push(imported.layer);
    diffIds.push(imported.diffId);
    remove(part);
  }
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: {},
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: groups.map((group) => ({ created: '2024-01-01T00:00:00Z', created_by: `bench: ${group.join(' ')}` })),
  };
  await commitImage(store, { config: Buffer.from(JSON.stringify(config)), layers, tags: [parseReference(tag)] });
  return layers.map((layer) => layer.digest);
}

/**
 * The headline job timed as the user runs it, a shell pipeline (`pack DIR | import -`,
 * both processes on the same two cores) and in one process (`import DIR`), against
 * tar into the compressor into sha256sum.
 */
function benchPipeline(input: Input): void {
  const store = join(work, 'store');
  const resetStore = (): void => remove(store);
  const tar = `${T} tar --numeric-owner --one-file-system --xattrs -cf - -C ${input.dir} .`;
  const peers = { gzip: `${tar} | ${T} pigz -p2 -6 | ${T} sha256sum > /dev/null`, zstd: `${tar} | ${T} zstd -3 -T2 -q -c | ${T} sha256sum > /dev/null` };
  for (const compression of ['gzip', 'zstd'] as const) {
    const flags = `--no-default-excludes --compression ${compression}`;
    const pack = `${rootfs(store)} pack ${input.dir} --no-default-excludes`;
    compare('pipeline', input, `${pack} | ${rootfs(store)} import --compression ${compression} - bench:piped`, peers[compression], resetStore, `pack|import ${compression}`);
    compare('pipeline', input, `${rootfs(store)} import ${input.dir} bench:direct ${flags}`, peers[compression], resetStore, `import DIR ${compression}`);
  }
}

async function benchImage(input: Input): Promise<void> {
  const store = join(work, 'store');
  const resetStore = (): void => remove(store);

  compare('import gzip', input, `${rootfs(store)} import ${input.tar} bench:gzip`, `${T} pigz -p2 -6 < ${input.tar} | ${T} sha256sum > /dev/null && ${T} sha256sum ${input.tar} > /dev/null`, resetStore);
  compare('import zstd', input, `${rootfs(store)} import --compression zstd ${input.tar} bench:zstd`, `${T} zstd -3 -T2 -q -c ${input.tar} | ${T} sha256sum > /dev/null && ${T} sha256sum ${input.tar} > /dev/null`, resetStore);

  // The SBOM made at capture (--sbom) against none: what the tap costs on the fast path, where it shows most.
  compare('import sbom', input, `${rootfs(store)} import --compression zstd ${input.tar} bench:sbom --sbom`, `${rootfs(store)} import --compression zstd ${input.tar} bench:nosbom`, resetStore);

  // An unchanged tree against the image of itself: metadata only, no file is read (docs/incremental.md); the baseline is a full capture of it.
  const full = `${rootfs(store)} pack ${input.dir} | ${rootfs(store)} import - bench:full`;
  compare('import --base', input, `${rootfs(store)} import ${input.dir} bench:delta --base bench:full`, full, () => {
    resetStore();
    sh(full);
  });

  // An unchanged tree again, on a base whose tree index the store keeps (docs/incremental.md): no layer is read; against GNU tar's level 1 of it.
  if (!only || only.includes('re-capture')) {
    resetStore();
    const level0 = join(work, 'level0.snar');
    const level1 = join(work, 'level1.snar');
    remove(level0);
    sh(`tar --numeric-owner --one-file-system --xattrs --listed-incremental=${level0} -cf - -C ${input.dir} . | pigz -p2 -6 | sha256sum > /dev/null`);
    sh(`${rootfs(store)} import ${input.dir} bench:v1 && ${rootfs(store)} import ${input.dir} bench:v2 --base bench:v1`);
    const level1Tar = `${T} tar --numeric-owner --one-file-system --xattrs --listed-incremental=${level1} -cf - -C ${input.dir} . | ${T} pigz -p2 -6 | ${T} sha256sum > /dev/null`;
    compare('re-capture', input, `${rootfs(store)} import ${input.dir} bench:again --base bench:v2`, level1Tar, () => copyFileSync(level0, level1), 're-capture unchanged');
    remove(level0, level1);
  }

  if (input.name === 'debootstrap' && (!only || only.includes('save delta'))) await benchDelta(input, store);

  if (only && !['save', 'load', 'copy', 'push', 'pull', 'squash', 'split'].some((group) => only.includes(group))) return;
  resetStore();
  const opened = await Store.open(store);
  let layers: Digest[];
  try {
    layers = await threeLayerImage(input, opened, 'bench:layers');
  } finally {
    await opened.close();
  }

  const archive = join(work, 'image.tar');
  const skopeoArchive = join(work, 'skopeo.tar');
  const skopeoSave = `${T} skopeo copy -q oci:${store}:bench:layers docker-archive:${skopeoArchive}:bench:layers`;
  const resetSave = (): void => remove(archive, skopeoArchive, skopeoCache);
  // skopeo's docker-archive holds the layers uncompressed: our save as it is (gzip layers kept), and doing what skopeo does.
  compare('save', input, `${rootfs(store)} save --compression none bench:layers -o ${archive}`, skopeoSave, resetSave, 'save -c none');
  compare('save', input, `${rootfs(store)} save bench:layers -o ${archive}`, skopeoSave, resetSave);
  if (!existsSync(archive)) sh(`${rootfs(store)} save bench:layers -o ${archive}`);
  const loadStore = join(work, 'load-store');
  const skopeoLayout = join(work, 'skopeo-layout');
  compare('load', input, `${rootfs(loadStore)} load -i ${archive}`, `${T} skopeo copy -q docker-archive:${archive} oci:${skopeoLayout}:bench`, () => remove(loadStore, skopeoLayout, skopeoCache));
  remove(loadStore, skopeoLayout);
  // An archive into a layout with no store at either end: the copy stages the archive, then writes each image.
  const copyLayout = join(work, 'copy-layout');
  compare('copy', input, `${rootfs(join(work, 'unused-store'))} copy docker-archive:${archive} oci:${copyLayout}:bench`, `${T} skopeo copy -q docker-archive:${archive} oci:${skopeoLayout}:bench`, () => remove(copyLayout, skopeoLayout, skopeoCache));
  remove(copyLayout, skopeoLayout);

  benchRegistry(input, store);

  // No peer squashes; the baseline is the least any squash must do: decompress every layer and compress one.
  const blobs = layers.map((digest) => join(store, 'blobs/sha256', digest.slice('sha256:'.length))).join(' ');
  compare('squash', input, `${rootfs(store)} squash bench:layers bench:squashed`, `(for l in ${blobs}; do ${T} pigz -dc $l; done) | ${T} pigz -p2 -6 | ${T} sha256sum > /dev/null`);

  const parts = join(work, 'parts');
  const coreutilsParts = join(work, 'coreutils-parts');
  compare('split', input, `${rootfs(store)} split ${archive} --size 64M -o ${parts}`, `${T} split -b 64M ${archive} ${coreutilsParts}/x && ${T} sha256sum ${coreutilsParts}/x* ${archive} > /dev/null`, () => {
    remove(parts, coreutilsParts);
    mkdirSync(coreutilsParts);
  });
  remove(parts, coreutilsParts, archive, skopeoArchive, store);
}

/**
 * A full re-capture after an update, saved for a site that holds the first
 * capture (docs/formats.md, "Delta layers"), against zstd --patch-from -3 on
 * the two layers' tars; the sizes are printed beside the times. The update:
 * 2 MB of new files and a line added to a few hundred existing ones.
 */
async function benchDelta(input: Input, store: string): Promise<void> {
  remove(store);
  const updated = join(work, 'updated');
  const site = join(work, 'delta-site');
  const have = join(work, 'have.json');
  const archive = join(work, 'delta.tar');
  const full = join(work, 'full.tar');
  remove(updated, site);
  sh(`cp -a ${input.dir} ${updated} && head -c 2000000 /dev/urandom | base64 > ${updated}/usr/bench-new && find ${updated}/usr/share/doc -type f -name copyright | head -300 | while read f; do echo updated >> "$f"; done`);
  sh(`${rootfs(store)} import ${input.tar} bench:v1 && ${rootfs(store)} import ${updated} bench:v2 && ${rootfs(store)} save bench:v1 -o ${full} && ${rootfs(site)} load -i ${full} && ${rootfs(site)} have -o ${have} && ${rootfs(store)} save bench:v2 -o ${full}`);
  const layerTar = async (ref: string, tar: string): Promise<void> => {
    const opened = await Store.open(store);
    try {
      const layer = (await resolveImage(opened, ref)).manifest.layers[0]!;
      sh(`zcat ${opened.blobPath(layer.digest)} > ${tar}`);
    } finally {
      await opened.close();
    }
  };
  const v1 = join(work, 'v1.tar');
  const v2 = join(work, 'v2.tar');
  const patch = join(work, 'v2.patch.zst');
  await layerTar('bench:v1', v1);
  await layerTar('bench:v2', v2);
  compare('save delta', input, `${rootfs(store)} save bench:v2 --exclude-have ${have} -o ${archive}`, `${T} zstd -q -f -3 --long=28 --patch-from=${v1} ${v2} -o ${patch}`);
  const mb = (path: string): string => `${(statSync(path).size / 1e6).toFixed(2)} MB`;
  process.stdout.write(`save delta sizes: full save ${mb(full)}, delta archive ${mb(archive)} (${((100 * statSync(archive).size) / statSync(full).size).toFixed(1)} %), zstd --patch-from -3 ${mb(patch)}\n`);
  remove(updated, site, have, archive, full, v1, v2, patch, store);
}

/**
 * push and pull against a docker-registry on 127.0.0.1, skopeo the peer.
 * The registry starts empty before every timed run (a registry that holds
 * the blobs would make every push after the first a few HEAD requests).
 */
function benchRegistry(input: Input, store: string): void {
  if (only && !only.includes('push') && !only.includes('pull')) return;
  const registryDir = join(work, 'registry');
  const port = 5000 + (process.pid % 1000);
  const host = `127.0.0.1:${port}`;
  let pid: number | undefined;
  const stop = (): void => {
    if (pid !== undefined) spawnSync('sh', ['-c', `kill ${pid}; while kill -0 ${pid} 2>/dev/null; do sleep 0.05; done`]);
    pid = undefined;
  };
  const restart = (): void => {
    stop();
    remove(join(registryDir, 'storage'), skopeoCache);
    mkdirSync(registryDir, { recursive: true });
    writeFileSync(join(registryDir, 'config.yml'), `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${join(registryDir, 'storage')}}}\nhttp: {addr: ${host}}\n`);
    pid = Number(sh(`docker-registry serve ${join(registryDir, 'config.yml')} >/dev/null 2>&1 & echo $!`).trim());
    sh(`for i in $(seq 100); do curl -sf http://${host}/v2/ >/dev/null && exit 0; sleep 0.1; done; exit 1`);
  };
  try {
    compare('push', input, `${rootfs(store)} push bench:layers ${host}/bench/layers:1`, `${T} skopeo copy -q --dest-tls-verify=false oci:${store}:bench:layers docker://${host}/bench/layers:1`, restart);
    const pullStore = join(work, 'pull-store');
    const skopeoLayout = join(work, 'skopeo-pulled');
    const seeded = (): void => {
      restart();
      sh(`${rootfs(store)} push bench:layers ${host}/bench/layers:1`);
      remove(pullStore, skopeoLayout, skopeoCache);
    };
    compare('pull', input, `${rootfs(pullStore)} pull ${host}/bench/layers:1`, `${T} skopeo copy -q --src-tls-verify=false docker://${host}/bench/layers:1 oci:${skopeoLayout}:bench`, seeded);
    remove(pullStore, skopeoLayout);
  } finally {
    stop();
    remove(registryDir);
  }
}

async function main(): Promise<void> {
  for (const tool of ['tar', 'pigz', 'zstd', 'sha256sum', 'split', 'skopeo', 'debootstrap', 'docker-registry', 'curl', '/usr/bin/time']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench: ${tool} is not installed (apt-get install tar pigz zstd coreutils skopeo debootstrap docker-registry curl time)`);
  }
  mkdirSync(work, { recursive: true });
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}`;
  process.stdout.write(`machine: ${machine}; load average ${loadavg()[0]!.toFixed(2)}; ${reps} reps, medians (peak RSS: largest of the reps)\n`);

  const trees = [tarOf('debootstrap', debootstrapRoot())];
  if (!quick) trees.push(tarOf('/usr/share', '/usr/share'));
  // /usr is packed only: importing its 5 GB tar with gzip takes minutes a run.
  const packed = quick ? trees : [...trees, { name: '/usr', dir: '/usr', tar: '', mb: Number(sh('du -sb /usr | cut -f1').trim()) / 1e6 }];

  for (const input of packed) {
    // Warm cache: one untimed read of the tree first.
    if (!only || only.includes('pack')) sh(`tar -cf - -C ${input.dir} . | cat > /dev/null`);
    compare('pack', input, `${rootfs(work)} pack ${input.dir} --no-default-excludes | ${T} cat > /dev/null`, `${T} tar --numeric-owner --one-file-system --xattrs -cf - -C ${input.dir} . | ${T} cat > /dev/null`);
  }
  for (const input of trees) benchPipeline(input);
  for (const input of trees) await benchImage(input);

  const results = join(cache, 'last-run.json');
  writeFileSync(results, JSON.stringify({ machine, load: loadavg(), reps, rows, failures }, null, 2));
  process.stdout.write(`\nraw results: ${results}\n\n${markdown()}`);
  if (failures.length > 0) {
    process.stdout.write(`\nfailed:\n${failures.join('\n')}\n`);
    process.exitCode = 1;
  }
}

/** The table docs/benchmarks.md shows. */
function markdown(): string {
  const lines = ['| command | input | MB | ours (s) | theirs (s) | ours/theirs | ours peak RSS (MB) | theirs peak RSS (MB) |', '|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const row of rows) {
    const ratio = row.oursSample.seconds / row.theirsSample.seconds;
    lines.push(
      `| ${row.group} | ${row.input} | ${row.inputMb.toFixed(0)} | ${row.oursSample.seconds.toFixed(2)} | ${row.theirsSample.seconds.toFixed(2)} | ${ratio.toFixed(2)} | ${row.oursSample.peakRssMb.toFixed(0)} | ${row.theirsSample.peakRssMb.toFixed(0)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
