/**
 * @module spec/process/limits
 * The open-files limit from /proc and the start-up lines naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseOpenFilesLimit, readOpenFilesLimit } from '../../lib/engine/limits';
import { limitLine } from '../../lib/process/limits';

const SAMPLE = [
  'Limit                     Soft Limit           Hard Limit           Units     ',
  'Max processes             95116                95116                processes ',
  'Max open files            20000                20000                files     ',
].join('\n');

test('parses the Max open files row', () => {
  assert.deepEqual(parseOpenFilesLimit(SAMPLE), { soft: 20000, hard: 20000 });
  assert.deepEqual(parseOpenFilesLimit('Max open files  unlimited  unlimited  files'), { soft: null, hard: null });
  assert.equal(parseOpenFilesLimit('nothing here'), null);
});

test('reads this process limit as /proc shows it', () => {
  const row = readFileSync('/proc/self/limits', 'latin1').match(/^Max open files\s+(\d+)\s+(\d+)/m)!;
  assert.deepEqual(readOpenFilesLimit(), { soft: Number(row[1]), hard: Number(row[2]) });
});

test('a LOG5 line names the limit and the clients it allows', () => {
  assert.deepEqual(limitLine({ soft: 20000, hard: 20000 }),
    { level: 5, text: 'Open files limit: 20000 (hard 20000); clients allowed: 9765' });
  assert.deepEqual(limitLine({ soft: 64, hard: 64 }), { level: 5, text: 'Open files limit: 64 (hard 64); clients allowed: 29' });
});
