// tier: unit
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compressionLevel, compressionLevels } from '../src/compress/levels.js';
import { UsageError } from '../src/errors.js';

test('one table of levels: the check takes its ends, refuses the next ones out, and refuses any level for none or keep', () => {
  for (const [compression, range] of Object.entries(compressionLevels)) {
    assert.equal(compressionLevel(compression, undefined), range.default);
    assert.equal(compressionLevel(compression, range.min), range.min);
    assert.equal(compressionLevel(compression, String(range.max)), range.max);
    for (const bad of [range.min - 1, range.max + 1, 2.5, 'x', '', '1e1']) {
      assert.throws(() => compressionLevel(compression, bad), (err: unknown) => err instanceof UsageError && err.message === `--level ${bad}: ${compression} levels are ${range.min} to ${range.max} (default ${range.default})`, `${compression} ${bad}`);
    }
  }
  for (const compression of ['none', 'keep']) {
    assert.equal(compressionLevel(compression, undefined), undefined);
    assert.throws(() => compressionLevel(compression, 5), /^UsageError: --level applies to gzip and zstd; --compression \w+ has no levels$/);
  }
});
