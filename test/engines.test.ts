/**
 * Interop with the real engines: every archive rootfs writes that an engine
 * takes is loaded into it (docker load, podman load/pull, ctr images import)
 * and a container is run from a debootstrap image; what each engine saves,
 * exports or pushes comes back through rootfs load/pull, export, squash and
 * save with its filesystem and diff_ids intact. The daemons start once for
 * the whole file (test/engines.ts); each test skips loudly if its engine cannot run.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { requireEngine, startEngines, type Engine } from './engines.js';
import { makeTempDir, requireRoot, requireTools, rootfs, runOk } from './helpers.js';
import { skopeo, startRegistry } from './registry-server.js';
import { buildMultiPlatformImage, withStore } from './fixtures.js';

interface Inspected {
  Id: string;
  Descriptor: { digest: string };
  ImageConfig: { rootfs: { diff_ids: string[] } };
}

async function inspect(store: string, ref: string): Promise<Inspected> {
  const [image] = JSON.parse((await rootfsOk(['--store', store, 'inspect', ref])).stdout.toString()) as Inspected[];
  return image!;
}

async function rootfsOk(args: string[]): Promise<{ stdout: Buffer; stderr: string }> {
  const result = await rootfs(args);
  assert.equal(result.code, 0, `rootfs ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result;
}

/** One member of a tar file, read by GNU tar. */
async function member(tarFile: string, path: string): Promise<string> {
  return (await runOk('tar', ['-xOf', tarFile, path])).stdout.toString();
}

/** What an image should hold when it comes back: one file's content and its config's diff_ids. */
interface Expected {
  file: string;
  content: string;
  diffIds: string[];
  configDigest: string;
}

/**
 * The image `ref` in `store` (brought in from an engine) is the one we gave:
 * same config and diff_ids, and export, squash and save of it work, the
 * exported tars holding the expected file and skopeo reading the saved archive.
 */
async function checkCameBack(t: TestContext, store: string, ref: string, expected: Expected): Promise<void> {
  const work = makeTempDir(t, 'rootfs-engines-back-');
  const image = await inspect(store, ref);
  assert.equal(image.Id, expected.configDigest, `${ref}: the engine changed the config`);
  assert.deepEqual(image.ImageConfig.rootfs.diff_ids, expected.diffIds);

  const exported = join(work, 'export.tar');
  await rootfsOk(['--store', store, 'export', ref, '-o', exported]);
  assert.equal(await member(exported, expected.file), expected.content);

  // Uncompressed: gzip of the whole root would be most of this file's time, and squash's gzip is tested elsewhere.
  await rootfsOk(['--store', store, 'squash', '--compression', 'none', ref, 'squashed:1']);
  const squashedExport = join(work, 'squashed.tar');
  await rootfsOk(['--store', store, 'export', 'squashed:1', '-o', squashedExport]);
  assert.equal(await member(squashedExport, expected.file), expected.content);

  const saved = join(work, 'saved.tar');
  await rootfsOk(['--store', store, 'save', 'squashed:1', '-o', saved]);
  const config = JSON.parse(await skopeo('inspect', '--config', `docker-archive:${saved}`)) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(config.rootfs.diff_ids, (await inspect(store, 'squashed:1')).ImageConfig.rootfs.diff_ids);
}

/** rootfs load of an engine's archive (file or directory) into a fresh store, then checkCameBack. */
async function loadBack(t: TestContext, archive: string, ref: string, expected: Expected): Promise<void> {
  const store = join(makeTempDir(t, 'rootfs-engines-store-'), 'store');
  const loaded = await rootfsOk(['--store', store, 'load', '-i', archive]);
  assert.match(loaded.stdout.toString(), new RegExp(`Loaded image: ${ref.replace(/[.:/]/g, '\\$&')}\\n`));
  await checkCameBack(t, store, ref, expected);
}

/** The content a command printed, for comparing with a file's. */
function output(result: { stdout: Buffer }): string {
  return result.stdout.toString();
}

/** A file of a created (never started) container, read with `cp CID:PATH -` (a tar on stdout). */
async function fileOfImage(engine: Engine, work: string, image: string, path: string): Promise<string> {
  const id = output(await engine.cli(['create', image])).trim();
  try {
    const tarFile = join(work, `${engine.name}-cp.tar`);
    writeFileSync(tarFile, (await engine.cli(['cp', `${id}:${path}`, '-'])).stdout);
    return await member(tarFile, path.split('/').pop()!);
  } finally {
    await engine.cli(['rm', id]);
  }
}

test('real container engines take what rootfs writes and give back what rootfs reads', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'debootstrap', 'tar', 'skopeo', 'docker-registry')) return;
  const work = makeTempDir(t, 'rootfs-engines-work-');
  const store = join(work, 'store');
  const registry = await startRegistry(t);

  // The daemons start while debootstrap builds the root: together they take most of this file's time.
  const root = join(work, 'root');
  const [engines] = await Promise.all([
    startEngines(t, { insecureRegistries: [registry.host] }),
    runOk('debootstrap', ['--variant=minbase', 'bookworm', root]),
  ]);
  const { containerd, docker, podman } = engines;

  const debianVersion = readFileSync(join(root, 'etc', 'debian_version'), 'utf8');
  await rootfsOk(['pack', root, '-o', join(work, 'root.tar')]);
  await rootfsOk(['--store', store, 'import', join(work, 'root.tar'), 'deb:1']);
  const deb = await inspect(store, 'deb:1');
  const debExpected: Expected = { file: 'etc/debian_version', content: debianVersion, diffIds: deb.ImageConfig.rootfs.diff_ids, configDigest: deb.Id };
  const multi = await withStore(store, (opened) => buildMultiPlatformImage(opened, work, 'multi:1'));
  const amdExpected: Expected = { file: 'etc/hello', content: 'amd64\n', diffIds: [multi.amd.diffId], configDigest: multi.amd.configDigest };
  const armExpected: Expected = { file: 'etc/hello', content: 'arm64\n', diffIds: [multi.arm.diffId], configDigest: multi.arm.configDigest };

  const archives: Record<string, string> = {};
  for (const image of ['deb', 'multi']) {
    for (const format of ['docker-archive', 'docker-legacy', 'oci-archive', 'oci']) {
      const file = join(work, `${image}.${format}`);
      await rootfsOk(['--store', store, 'save', `${image}:1`, '--format', format, '-o', file]);
      archives[`${image}.${format}`] = file;
    }
  }

  const catDebianVersion = ['/bin/sh', '-c', 'cat /etc/debian_version'];

  // ---- rootfs → engine ----

  for (const format of ['docker-archive', 'docker-legacy']) {
    await t.test(`docker load of our ${format}, then docker run`, async (t) => {
      if (!requireEngine(t, docker)) return;
      await docker.try(['rmi', '-f', 'deb:1']);
      assert.match(output(await docker.cli(['load', '-i', archives[`deb.${format}`]!])), /Loaded image: deb:1\n/);
      assert.equal(output(await docker.cli(['image', 'inspect', '--format', '{{.Id}}', 'deb:1'])).trim(), deb.Id);
      assert.deepEqual(JSON.parse(output(await docker.cli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', 'deb:1']))), deb.ImageConfig.rootfs.diff_ids);
      assert.equal(output(await docker.cli(['run', '--rm', '--network', 'none', 'deb:1', ...catDebianVersion])), debianVersion);
    });

    await t.test(`docker load of our multi-platform image as ${format} gives this machine's platform`, async (t) => {
      if (!requireEngine(t, docker)) return;
      await docker.try(['rmi', '-f', 'multi:1']);
      await docker.cli(['load', '-i', archives[`multi.${format}`]!]);
      assert.equal(output(await docker.cli(['image', 'inspect', '--format', '{{.Id}}', 'multi:1'])).trim(), multi.amd.configDigest);
      assert.equal(await fileOfImage(docker, makeTempDir(t), 'multi:1', '/etc/hello'), 'amd64\n');
    });
  }

  for (const format of ['docker-archive', 'oci-archive']) {
    await t.test(`podman load of our ${format}, then podman run`, async (t) => {
      if (!requireEngine(t, podman)) return;
      await podman.try(['rmi', '-f', 'deb:1']);
      assert.match(output(await podman.cli(['load', '-i', archives[`deb.${format}`]!])), /Loaded image: docker\.io\/library\/deb:1\n/);
      assert.equal(`sha256:${output(await podman.cli(['image', 'inspect', '--format', '{{.Id}}', 'deb:1'])).trim()}`, deb.Id);
      assert.deepEqual(JSON.parse(output(await podman.cli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', 'deb:1']))), deb.ImageConfig.rootfs.diff_ids);
      assert.equal(output(await podman.cli(['run', '--rm', '--network', 'none', 'deb:1', ...catDebianVersion])), debianVersion);
    });
  }

  for (const [transport, file] of [['oci-archive', 'deb.oci-archive'], ['oci', 'deb.oci']] as const) {
    await t.test(`podman pull ${transport}: of our ${file.replace('deb.', '')}, then podman run`, async (t) => {
      if (!requireEngine(t, podman)) return;
      // podman names an oci: image after its path, which must then be lowercase: a relative one is.
      const source = transport === 'oci' ? `oci:${file}:deb:1` : `oci-archive:${file}`;
      const id = output(await podman.cli(['pull', '-q', source], { cwd: work })).trim();
      assert.equal(`sha256:${id}`, deb.Id);
      assert.equal(output(await podman.cli(['run', '--rm', '--network', 'none', id, ...catDebianVersion])), debianVersion);
    });
  }

  await t.test('podman load of our multi-platform oci-archive gives this machine\'s platform', async (t) => {
    if (!requireEngine(t, podman)) return;
    await podman.try(['rmi', '-f', 'multi:1']);
    await podman.cli(['load', '-i', archives['multi.oci-archive']!]);
    assert.equal(`sha256:${output(await podman.cli(['image', 'inspect', '--format', '{{.Id}}', 'multi:1'])).trim()}`, multi.amd.configDigest);
    assert.equal(await fileOfImage(podman, makeTempDir(t), 'multi:1', '/etc/hello'), 'amd64\n');
  });

  let ctrRuns = 0;
  for (const format of ['docker-archive', 'docker-legacy', 'oci-archive']) {
    await t.test(`ctr images import of our ${format}, then ctr run`, async (t) => {
      if (!requireEngine(t, containerd)) return;
      await containerd.try(['images', 'rm', 'docker.io/library/deb:1']);
      await containerd.cli(['images', 'import', archives[`deb.${format}`]!]);
      const listed = output(await containerd.cli(['images', 'ls'])).split('\n').find((line) => line.startsWith('docker.io/library/deb:1 '));
      assert.ok(listed, 'ctr images ls lists docker.io/library/deb:1');
      // docker-legacy has no manifest to keep: containerd writes its own; the others keep ours.
      if (format !== 'docker-legacy') assert.ok(listed.includes(deb.Descriptor.digest), listed);
      const run = await containerd.cli(['run', '--rm', ...engines.ctrRunFlags, 'docker.io/library/deb:1', `rootfs-test-${++ctrRuns}`, ...catDebianVersion]);
      assert.equal(output(run), debianVersion);
    });
  }

  await t.test('ctr images import --all-platforms of our multi-platform oci-archive keeps our index', async (t) => {
    if (!requireEngine(t, containerd)) return;
    await containerd.cli(['images', 'import', '--all-platforms', archives['multi.oci-archive']!]);
    const listed = output(await containerd.cli(['images', 'ls'])).split('\n').find((line) => line.startsWith('docker.io/library/multi:1 '));
    assert.ok(listed?.includes(multi.index.digest), `ctr images ls: ${listed}`);
    assert.match(listed!, /linux\/amd64,linux\/arm64\/v8/);
  });

  // ---- engine → rootfs ----

  await t.test('docker save (classic docker-archive) → rootfs load, export, squash, save', async (t) => {
    if (!requireEngine(t, docker)) return;
    await docker.cli(['load', '-i', archives['deb.docker-archive']!]);
    const saved = join(makeTempDir(t), 'docker-save.tar');
    await docker.cli(['save', '-o', saved, 'deb:1']);
    await loadBack(t, saved, 'deb:1', debExpected);
  });

  await t.test('docker save of several images in one archive → rootfs load', async (t) => {
    if (!requireEngine(t, docker)) return;
    await docker.cli(['load', '-i', archives['deb.docker-archive']!]);
    await docker.cli(['load', '-i', archives['multi.docker-archive']!]);
    const saved = join(makeTempDir(t), 'docker-save.tar');
    await docker.cli(['save', '-o', saved, 'deb:1', 'multi:1']);
    const store = join(makeTempDir(t), 'store');
    await rootfsOk(['--store', store, 'load', '-i', saved]);
    await checkCameBack(t, store, 'multi:1', amdExpected);
    assert.deepEqual((await inspect(store, 'deb:1')).ImageConfig.rootfs.diff_ids, deb.ImageConfig.rootfs.diff_ids);
  });

  for (const format of ['docker-archive', 'oci-archive', 'oci-dir']) {
    await t.test(`podman save --format ${format} → rootfs load, export, squash, save`, async (t) => {
      if (!requireEngine(t, podman)) return;
      await podman.cli(['load', '-i', archives['deb.docker-archive']!]);
      const saved = join(makeTempDir(t), `podman-save.${format}`);
      await podman.cli(['save', '--format', format, '-o', saved, 'deb:1']);
      // podman names what it saves in full, as docker.io/library/deb:1; rootfs keeps docker's short form.
      await loadBack(t, saved, 'deb:1', debExpected);
    });
  }

  await t.test('ctr images export → rootfs load, export, squash, save', async (t) => {
    if (!requireEngine(t, containerd)) return;
    await containerd.cli(['images', 'import', archives['deb.oci-archive']!]);
    const exported = join(makeTempDir(t), 'ctr-export.tar');
    await containerd.cli(['images', 'export', exported, 'docker.io/library/deb:1']);
    await loadBack(t, exported, 'deb:1', debExpected);
  });

  await t.test('ctr images export --all-platforms of a multi-platform image → rootfs load keeps the index', async (t) => {
    if (!requireEngine(t, containerd)) return;
    await containerd.cli(['images', 'import', '--all-platforms', archives['multi.oci-archive']!]);
    const exported = join(makeTempDir(t), 'ctr-export.tar');
    await containerd.cli(['images', 'export', '--all-platforms', exported, 'docker.io/library/multi:1']);
    const store = join(makeTempDir(t), 'store');
    await rootfsOk(['--store', store, 'load', '-i', exported]);
    assert.equal((await inspect(store, 'multi:1')).Descriptor.digest, multi.index.digest);
    await checkCameBack(t, store, 'multi:1', amdExpected);
    const armStore = join(makeTempDir(t), 'store');
    await rootfsOk(['--store', armStore, 'load', '--platform', 'linux/arm64/v8', '-i', exported]);
    await checkCameBack(t, armStore, 'multi:1', armExpected);
  });

  await t.test('docker push to a registry → rootfs pull, export, squash, save', async (t) => {
    if (!requireEngine(t, docker)) return;
    await docker.cli(['load', '-i', archives['deb.docker-archive']!]);
    const ref = `${registry.host}/engines/deb:1`;
    await docker.cli(['tag', 'deb:1', ref]);
    await docker.cli(['push', ref]);
    const store = join(makeTempDir(t), 'store');
    await rootfsOk(['--store', store, 'pull', ref]);
    await checkCameBack(t, store, ref, debExpected);
  });

  await t.test('docker push mounting an uncompressed layer it labels gzip (Docker 20.10) → rootfs pull still reads it', async (t) => {
    if (!requireEngine(t, docker)) return;
    // A layer of its own, so that no gzip copy of it is in the registry for docker to prefer.
    const tree = join(makeTempDir(t), 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'quirk'), `mounted as gzip ${registry.host}\n`);
    const tarFile = `${tree}.tar`;
    await runOk('tar', ['--numeric-owner', '-C', tree, '-cf', tarFile, '.']);
    const quirkStore = join(makeTempDir(t), 'store');
    await rootfsOk(['--store', quirkStore, 'import', '--compression', 'none', tarFile, 'quirk:1']);
    const plain = await inspect(quirkStore, 'quirk:1');
    await rootfsOk(['--store', quirkStore, 'push', 'quirk:1', `${registry.host}/quirk/plain:1`]);

    // docker remembers the plain blob as the layer's digest in quirk/plain and mounts it from there.
    await docker.cli(['pull', `${registry.host}/quirk/plain:1`]);
    const ref = `${registry.host}/quirk/mounted:1`;
    await docker.cli(['tag', `${registry.host}/quirk/plain:1`, ref]);
    await docker.cli(['push', ref]);
    const manifest = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${ref}`)) as { layers: Array<{ mediaType: string; digest: string }> };
    assert.equal(manifest.layers[0]!.digest, plain.ImageConfig.rootfs.diff_ids[0], 'docker mounted the plain layer');
    assert.equal(manifest.layers[0]!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'and labelled it gzip');

    const store = join(makeTempDir(t), 'store');
    await rootfsOk(['--store', store, 'pull', ref]);
    await checkCameBack(t, store, ref, { file: 'etc/quirk', content: `mounted as gzip ${registry.host}\n`, diffIds: plain.ImageConfig.rootfs.diff_ids, configDigest: plain.Id });
  });
});
