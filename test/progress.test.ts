/**
 * The progress line on a real terminal: `script` (util-linux) runs the CLI on
 * a pseudo-terminal and hands back every byte written to it, so the test sees
 * what a user sees: each redraw (`\r\e[K…`), and whatever else shares a line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { cliPath, makeTempDir, requireTools, runOk } from './helpers.js';

const cli = `"${process.execPath}" "${cliPath}"`;

/** Runs a shell command line on a pseudo-terminal; returns everything that reached the terminal, split into the stretches the cursor draws (between \r and \n). */
async function onTerminal(commandLine: string, env: Record<string, string>): Promise<string[]> {
  const { stdout } = await runOk('script', ['-qfec', commandLine, '/dev/null'], { env: { ...env, COLUMNS: '200' } });
  return stdout.toString().split(/[\r\n]+/).filter((segment) => segment !== '');
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
