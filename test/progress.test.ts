/**
 * The progress line on a real terminal: `script` (util-linux) runs the CLI on
 * a pseudo-terminal and hands back every byte written to it, so the test sees
 * what a user sees: each redraw (`\r\e[K…`), and whatever else shares a line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { estimatePack } from '../src/pack/estimate.js';
import { cliPath, makeTempDir, requireTools, runOk } from './helpers.js';

const cli = `"${process.execPath}" "${cliPath}"`;

/**
 * Runs a shell command line on a pseudo-terminal `columns` wide; returns everything that reached the
 * terminal, split into the stretches the cursor draws (between \r and \n).
 */
async function onTerminal(commandLine: string, env: Record<string, string>, columns = 200): Promise<string[]> {
  const { stdout } = await runOk('script', ['-qfec', `stty cols ${columns} rows 50; ${commandLine}`, '/dev/null'], { env: { ...env, COLUMNS: String(columns) } });
  return stdout.toString().split(/[\r\n]+/).filter((segment) => segment !== '');
}

/**
 * A temp dir holding root/big with these bytes, and an env with a store in it and the directory a
 * pipe's writer hands its total on in (cli/pipeline.ts) there too.
 */
function treeWithFile(t: TestContext, content: Buffer): { dir: string; root: string; env: Record<string, string> } {
  const dir = makeTempDir(t);
  const root = join(dir, 'root');
  mkdirSync(root);
  writeFileSync(join(root, 'big'), content);
  return { dir, root, env: { ROOTFS_STORE: join(dir, 'store'), TMPDIR: dir, XDG_RUNTIME_DIR: '' } };
}

/** The handed-on totals left behind: none, once every command has ended. */
function totalsLeft(dir: string): string[] {
  return readdirSync(join(dir, `rootfs-${process.getuid!()}`));
}

const progressLine = /^(?:\x1b\[K)?[a-z][^:]*: .*B\/s/;

/** Every stretch that shows a rate is a progress line and only that: no result, summary or warning shares it. */
function assertNothingOnProgress(segments: string[]): void {
  for (const segment of segments) {
    if (!/B\/s/.test(segment)) continue;
    assert.match(segment, progressLine, `not a clean progress line: ${JSON.stringify(segment)}`);
    assert.doesNotMatch(segment, /sha256:|Loaded image|Packed|OK \(|rootfs:/, `a result landed on the progress line: ${JSON.stringify(segment)}`);
  }
}

/**
 * The stretches drawn under label that show a total: at least one, and each with a rate above zero
 * (every one but the first draw, however fast the machine) and short of 99% also shows an ETA.
 */
function assertTotals(segments: string[], label: string, total: RegExp): void {
  const drawn = segments.flatMap((segment) => {
    const found = new RegExp(`^(?:\\x1b\\[K)?${label}: [\\d.]+(?:[KMGT]i)?B of (\\S+(?: \\(est\\.\\),)?) \\(?(\\d+)%\\)?, (ETA \\d+s, )?([\\d.]+)(?:[KMGT]i)?B/s`).exec(segment);
    return found ? [{ total: found[1]!, percent: Number(found[2]), eta: found[3] !== undefined, rate: Number(found[4]) }] : [];
  });
  assert.ok(drawn.length > 0, `no ${label} line with a total:\n${segments.join('\n')}`);
  for (const { total: shown, percent, eta, rate } of drawn) {
    assert.match(shown, total);
    if (rate > 0 && percent < 99) assert.ok(eta, `no ETA:\n${segments.join('\n')}`);
  }
}

describe('the progress line on a terminal', () => {
  test('import, split, verify, load and squash: percent where the total is known, results on lines of their own', async (t) => {
    if (!requireTools(t, 'script')) return;
    const dir = makeTempDir(t);
    const root = join(dir, 'root');
    mkdirSync(root);
    writeFileSync(join(root, 'big'), randomBytes(24 << 20));
    const env = { ROOTFS_STORE: join(dir, 'store') };
    await runOk(process.execPath, [cliPath, 'pack', root, '-o', join(dir, 'root.tar')]);

    const imported = await onTerminal(`${cli} import --compression none ${dir}/root.tar big:1`, env);
    assertNothingOnProgress(imported);
    assert.ok(imported.some((segment) => /^(?:\x1b\[K)?importing .*root\.tar: [\d.]+(?:[KMGT]i)?B of [\d.]+MiB \(\d+%\), .*B\/s/.test(segment)), imported.join('\n'));
    assert.ok(imported.some((segment) => /^(?:\x1b\[K)?sha256:[a-f0-9]{64}$/.test(segment)), 'the image ID on a line of its own');

    await runOk(process.execPath, [cliPath, 'save', 'big:1', '-o', join(dir, 'big.tar')], { env });
    const split = await onTerminal(`${cli} split ${dir}/big.tar --size 8M -o ${dir}/parts`, env);
    assertNothingOnProgress(split);
    assert.ok(split.some((segment) => /splitting big\.tar: .* of .*\(\d+%\)/.test(segment)), split.join('\n'));

    const verify = await onTerminal(`${cli} verify ${dir}/parts`, env);
    assertNothingOnProgress(verify);
    assert.ok(verify.some((segment) => /verifying: .* of .*\(\d+%\)/.test(segment)), verify.join('\n'));
    assert.ok(verify.some((segment) => /^(?:\x1b\[K)?big\.tar: OK/.test(segment)));

    const loaded = await onTerminal(`${cli} load -i ${dir}/big.tar --json`, { ROOTFS_STORE: join(dir, 'store2') });
    assertNothingOnProgress(loaded);
    assert.ok(loaded.some((segment) => /loading: .* of .*\(\d+%\).*blob/.test(segment)), loaded.join('\n'));

    const squashed = await onTerminal(`${cli} squash big:1 flat:1`, env);
    assertNothingOnProgress(squashed);
    assert.ok(squashed.some((segment) => /squash: read layer 1 of 1: \d+ entr/.test(segment)), squashed.join('\n'));
    assert.ok(squashed.some((segment) => /squash: writing the merged layer \(gzip\): [\d.]+(?:[KMGT]i)?B, .*B\/s, \d+ entr/.test(segment)), squashed.join('\n'));

    const exported = await onTerminal(`${cli} export big:1 -o ${dir}/flat.tar`, env);
    assert.ok(exported.some((segment) => /export: writing: .*B\/s, \d+ entr/.test(segment)), exported.join('\n'));
  });

  test('pack DIR | import -: the drawing end shows pack\'s estimate, percent and ETA; import DIR too; nothing is left in the runtime directory', async (t) => {
    if (!requireTools(t, 'script')) return;
    const { dir, root, env } = treeWithFile(t, randomBytes(64 << 20));
    const piped = await onTerminal(`${cli} pack ${root} | ${cli} import --compression none - big:1`, env);
    assertNothingOnProgress(piped);
    assertTotals(piped, 'importing stdin', /^~6[45](?:\.\d+)?MiB \(est\.\),$/);
    assert.ok(!piped.some((segment) => /\d{3,}%/.test(segment)), 'never past 100%');
    assert.deepEqual(totalsLeft(dir), []);

    const imported = await onTerminal(`${cli} import --compression none ${root} dir:1`, env);
    assertNothingOnProgress(imported);
    assertTotals(imported, 'packing', /^~6[45](?:\.\d+)?MiB \(est\.\),$/);
  });

  test('save | load: load draws with the total save hands on', async (t) => {
    if (!requireTools(t, 'script')) return;
    const { dir, root, env } = treeWithFile(t, randomBytes(64 << 20));
    await runOk(process.execPath, [cliPath, 'import', '--compression', 'none', root, 'big:1'], { env });
    const segments = await onTerminal(`${cli} save big:1 | ${cli} --store ${dir}/store2 load`, env);
    assertNothingOnProgress(segments);
    assertTotals(segments, 'loading', /^64MiB$/);
    assert.ok(!segments.some((segment) => /saving: /.test(segment)), `save drew too:\n${segments.join('\n')}`);
    assert.deepEqual(totalsLeft(dir), []);
  });

  test('save of a zstd image to docker-archive says the conversion and counts it; unpack and export show the plan pass, then a total', async (t) => {
    if (!requireTools(t, 'script')) return;
    // Compressible, so the layer converted to none is larger than the zstd one stored.
    const { dir, root, env } = treeWithFile(t, Buffer.concat([randomBytes(16 << 20), Buffer.alloc(32 << 20)]));
    await runOk(process.execPath, [cliPath, 'import', '--compression', 'zstd', root, 'z:1'], { env });

    const saved = await onTerminal(`${cli} save z:1 -o ${dir}/z.tar`, env);
    assertNothingOnProgress(saved);
    assert.ok(saved.some((segment) => /^(?:\x1b\[K)?converting layer [0-9a-f]{12}: zstd → none for docker-archive \(Docker ≤ 23 cannot read zstd\); --format oci-archive keeps zstd$/.test(segment)), saved.join('\n'));
    // Before the conversion the total is an estimate: the layer read, and its stored size again for what it will write.
    assert.ok(saved.some((segment) => /^(?:\x1b\[K)?saving: 0B of ~3\d(?:\.\d+)?MiB \(est\.\), 0%/.test(segment)), saved.join('\n'));
    // Once converted, the total is exact: the stored zstd layer read plus the 48MiB written, not the 16MiB stored.
    const totals = saved.flatMap((segment) => /saving: .* of ([\d.]+)MiB \(\d+%\)/.exec(segment)?.[1] ?? []).map(Number);
    assert.ok(totals.length > 0 && totals.every((total) => total >= 60), saved.join('\n'));

    const unpacked = await onTerminal(`${cli} unpack z:1 ${dir}/out`, env);
    assertNothingOnProgress(unpacked);
    assert.ok(unpacked.some((segment) => /^(?:\x1b\[K)?unpack: planning the merge: [\d.]+(?:[KMGT]i)?B of [\d.]+MiB \(\d+%\), .*B\/s, layer 1 of 1, \d+ entr/.test(segment)), unpacked.join('\n'));
    assert.ok(unpacked.some((segment) => /^(?:\x1b\[K)?unpacking: [\d.]+(?:[KMGT]i)?B of 48MiB \(\d+%\)/.test(segment)), unpacked.join('\n'));

    const exported = await onTerminal(`${cli} export z:1 -o ${dir}/flat.tar`, env);
    assertNothingOnProgress(exported);
    assert.ok(exported.some((segment) => /^(?:\x1b\[K)?export: planning the merge: [\d.]+(?:[KMGT]i)?B of [\d.]+MiB \(\d+%\), .*B\/s, layer 1 of 1, \d+ entr/.test(segment)), exported.join('\n'));
    assert.ok(exported.some((segment) => /^(?:\x1b\[K)?export: writing: [\d.]+(?:[KMGT]i)?B of 48MiB \(\d+%\)/.test(segment)), exported.join('\n'));
  });

  test('a narrow terminal keeps the numbers and shortens the path', async (t) => {
    if (!requireTools(t, 'script')) return;
    const { dir, root, env } = treeWithFile(t, randomBytes(32 << 20));
    const deep = join(dir, 'a-directory-name-long-enough-to-fill-a-narrow-terminal-by-itself');
    mkdirSync(deep);
    await runOk(process.execPath, [cliPath, 'pack', root, '-o', join(deep, 'root.tar')]);
    const columns = 60;
    const segments = await onTerminal(`${cli} import --compression none ${deep}/root.tar big:1`, env, columns);
    const lines = segments.filter((segment) => /importing/.test(segment));
    assert.ok(lines.length > 0, segments.join('\n'));
    // Every draw (the first one too, rate 0 and no ETA yet) keeps bytes, total, percent and rate; the ETA when there is one.
    for (const segment of lines) {
      assert.ok(segment.replace(/\x1b\[K/g, '').length < columns, `wider than the terminal: ${JSON.stringify(segment)}`);
      assert.match(segment, /^(?:\x1b\[K)?impo.*….*\.tar: [\d.]+(?:[KMGT]i)?B of 32MiB \(\d+%\), (?:ETA \d+s, )?[\d.]+(?:[KMGT]i)?B\/s(?:, \d+ entr\w+)?$/);
    }
  });

  test('estimatePack: a directory inside a filesystem is counted, not given the filesystem\'s statfs total', (t) => {
    const dir = makeTempDir(t);
    writeFileSync(join(dir, 'a'), Buffer.alloc(1 << 20));
    writeFileSync(join(dir, 'b'), 'small');
    mkdirSync(join(dir, 'proc'));
    writeFileSync(join(dir, 'proc', 'emptied'), Buffer.alloc(1 << 20));
    // a, b and proc/ (emptied: not entered): their headers, 1MiB and a padded block, the end of archive.
    assert.equal(estimatePack(dir), 3 * 512 + (1 << 20) + 512 + 1024);
    assert.equal(estimatePack(dir, { exclude: ['a'] }), 2 * 512 + 512 + 1024);
    assert.equal(estimatePack(join(dir, 'missing')), undefined);
  });

  test('estimatePack: a filesystem\'s root is statfs\'s used bytes and inodes, however many entries it has', () => {
    // `/` is a mount point, and far beyond what a walk would count; other work writes to it meanwhile, hence the margins.
    const fs = statfsSync('/');
    const used = (fs.blocks - fs.bfree) * fs.bsize;
    const estimate = estimatePack('/');
    assert.ok(estimate !== undefined && estimate > used / 2 && estimate < 2 * used + (fs.files - fs.ffree) * 1024, `${estimate} for ${used} bytes used`);
  });

  test('pack | import in one terminal: one progress line (the last rootfs draws), pack\'s summary not on it', async (t: TestContext) => {
    if (!requireTools(t, 'script')) return;
    const dir = makeTempDir(t);
    const root = join(dir, 'root');
    mkdirSync(root);
    writeFileSync(join(root, 'big'), randomBytes(24 << 20));
    const segments = await onTerminal(`${cli} pack ${root} | ${cli} import --compression none - big:1`, { ROOTFS_STORE: join(dir, 'store') });
    assertNothingOnProgress(segments);
    assert.ok(segments.some((segment) => /^(?:\x1b\[K)?importing stdin: /.test(segment)), segments.join('\n'));
    assert.ok(!segments.some((segment) => /packing: /.test(segment)), `pack drew too:\n${segments.join('\n')}`);
    assert.ok(segments.some((segment) => /^(?:\x1b\[K)*Packed /.test(segment)), segments.join('\n'));
  });
});
