/**
 * No output lands in an image store (issue 19, "copy can destroy the
 * store"): a file or directory at or under a store (the one in use, or any
 * of ours) is refused with exit 2 before anything is written, by every
 * command that writes one, through the output layer. And the addresses a
 * copy takes are checked before any work: its own source as destination, an
 * oci: ref outside the ref.name grammar, two images under one ref.name, bad
 * registry flags, a port out of range.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliPath, makeTempDir, rootfs, runOk } from './helpers.js';
import { describeTree } from './tree.js';

async function storeWithImage(work: string, name = 'store'): Promise<string> {
  const store = join(work, name);
  mkdirSync(join(work, 'root', 'etc'), { recursive: true });
  writeFileSync(join(work, 'root', 'etc', 'hostname'), 'box\n');
  await runOk(process.execPath, [cliPath, '--store', store, 'import', '-q', join(work, 'root'), 'base:1']);
  return store;
}

test('an output at or inside an image store is refused (2), the store unchanged, for copy (with or without a rootfs: end) and every -o', async (t) => {
  const work = makeTempDir(t);
  const store = await storeWithImage(work);
  const other = await storeWithImage(work, 'other');
  const archive = join(work, 'base.tar');
  await runOk(process.execPath, [cliPath, '--store', store, 'save', 'base:1', '-o', archive]);
  const blob = readdirSync(join(store, 'blobs', 'sha256'))[0]!;
  symlinkSync(store, join(work, 'link'));
  const before = describeTree(store);
  const otherBefore = describeTree(other);
  const cases: string[][] = [
    ['copy', 'rootfs:base:1', `oci-archive:${store}/index.json`],
    ['copy', 'rootfs:base:1', `docker-archive:${store}/oci-layout`],
    ['copy', 'rootfs:base:1', `docker-archive:${store}/blobs/sha256/${blob}`],
    ['copy', 'rootfs:base:1', `oci:${store}:x`],
    ['copy', 'rootfs:base:1', `oci:${store}/sub:x`],
    ['copy', 'rootfs:base:1', `docker-archive:${join(work, 'link')}/index.json`],
    ['copy', `docker-archive:${archive}`, `docker-archive:${store}/oci-layout`],
    ['copy', `docker-archive:${archive}`, `oci-archive:${other}/index.json`],
    ['copy', `docker-archive:${archive}`, `oci:${other}`],
    ['save', 'base:1', '-o', join(store, 'index.json')],
    ['save', 'base:1', '--format', 'oci', '-o', store],
    ['export', 'base:1', '-o', join(other, 'index.json')],
    ['unpack', 'base:1', join(store, 'bundle')],
    ['have', '-o', join(store, 'index.json')],
    ['pack', join(work, 'root'), '-o', join(store, 'blobs', 'sha256', blob)],
    ['split', archive, '--size', '1M', '--force', '-o', join(store, 'blobs')],
    ['keygen', '-o', join(store, 'index')],
  ];
  for (const args of cases) {
    const result = await rootfs(['--store', store, ...args], { env: { ROOTFS_KEY_PASSWORD: 'x' } });
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, / is (the|inside the) image store.*; refusing to write there/, args.join(' '));
    assert.deepEqual(describeTree(store), before, `${args.join(' ')} changed the store`);
    assert.deepEqual(describeTree(other), otherBefore, `${args.join(' ')} changed the other store`);
  }
  // Every command still works on the store: its index is its own.
  const images = await rootfs(['--store', store, 'images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.equal(images.stdout.toString(), 'base:1\n');
  // Beside a store is fine.
  assert.equal((await rootfs(['--store', store, 'copy', 'rootfs:base:1', `oci-archive:${join(work, 'out.tar')}`])).code, 0);
});

test('copy refuses its own source as destination, oci: refs outside the ref.name grammar, an upper-case docker-archive name, bad registry flags and ports (2)', async (t) => {
  const work = makeTempDir(t);
  const store = await storeWithImage(work);
  const archive = join(work, 'base.tar');
  await runOk(process.execPath, [cliPath, '--store', store, 'save', 'base:1', '-o', archive]);
  const layout = join(work, 'layout');
  await runOk(process.execPath, [cliPath, '--store', store, 'save', 'base:1', '--format', 'oci', '-o', layout]);
  const archiveBytes = readFileSync(archive);
  const layoutBefore = describeTree(layout);
  const cases: Array<[string[], RegExp]> = [
    [['copy', `docker-archive:${archive}`, `docker-archive:${archive}`], /the destination is the source/],
    [['copy', `oci:${layout}`, `oci:${layout}:again`], /the destination is the source/],
    [['copy', `docker-archive:${archive}`, `oci:${join(work, 'l2')}:../x`], /"\.\.\/x" is not an OCI ref\.name/],
    [['copy', `docker-archive:${archive}`, `oci:${join(work, 'l2')}:a\nb`], /"a\\nb" is not an OCI ref\.name/],
    [['copy', `docker-archive:${archive}`, `oci-archive:${join(work, 'l2.tar')}:a/../b`], /not an OCI ref\.name/],
    [['copy', `docker-archive:${archive}`, `docker-archive:${join(work, 'up.tar')}:Base:1`], /repository name must be lowercase/],
    [['copy', `docker-archive:${archive}`, `oci:${join(work, 'l2')}`, '--timeout', 'garbage'], /--timeout must be a number of seconds/],
    [['copy', `docker-archive:${archive}`, `oci:${join(work, 'l2')}`, '--tls-verify=false'], /--tls-verify applies to registries only/],
    [['copy', `docker-archive:${archive}`, 'docker://host:99999999/a:1'], /port 99999999 of host:99999999 is not from 1 to 65535/],
    [['copy', 'docker://host:99999999', `oci:${join(work, 'l2')}`], /port 99999999 of host:99999999 is not from 1 to 65535/],
    [['pull', 'host:99999999/a:1'], /port 99999999 of host:99999999 is not from 1 to 65535/],
    [['push', 'base:1', 'host:0/a:1'], /port 0 of host:0 is not from 1 to 65535/],
  ];
  for (const [args, message] of cases) {
    const result = await rootfs(['--store', store, ...args]);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
  }
  assert.ok(readFileSync(archive).equals(archiveBytes));
  assert.deepEqual(describeTree(layout), layoutBefore);
  assert.deepEqual(readdirSync(work).sort(), ['base.tar', 'layout', 'root', 'store']);
});

test('a layout with two images under one ref.name is refused (3) naming both entries, whether or not the name is asked for', async (t) => {
  const work = makeTempDir(t);
  const store = await storeWithImage(work);
  writeFileSync(join(work, 'root', 'etc', 'hostname'), 'other\n');
  await runOk(process.execPath, [cliPath, '--store', store, 'import', '-q', join(work, 'root'), 'base:2']);
  const layout = join(work, 'layout');
  await runOk(process.execPath, [cliPath, '--store', store, 'save', 'base:1', 'base:2', '--format', 'oci', '-o', layout]);
  const indexPath = join(layout, 'index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8'));
  // As skopeo writes a layout: ref.name alone.
  for (const entry of index.manifests) entry.annotations = { 'org.opencontainers.image.ref.name': 'same' };
  writeFileSync(indexPath, JSON.stringify(index));
  for (const source of [`oci:${layout}:same`, `oci:${layout}`]) {
    const result = await rootfs(['--store', store, 'copy', source, `oci-archive:${join(work, 'out.tar')}`]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /index\.json: manifests\[0\] and manifests\[1\] are two images both named "same"/);
  }
});
