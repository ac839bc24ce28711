/**
 * Where the engine sees the descriptor wall: the socket number from which fewer than the
 * headroom's worth of slots are free below the soft limit, with inherited descriptors high in
 * the table counted (they would otherwise let the kernel's EMFILE come first, unseen).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDescriptors, wallDescriptor } from '../../lib/engine/limits';

test('nothing high in the table: the wall is the limit minus the headroom', () => {
  assert.equal(wallDescriptor(64, 4, [0, 1, 2, 3, 17, 18]), 60);
  assert.equal(wallDescriptor(1024, 4, [0, 1, 2]), 1020);
});

test('descriptors inherited into the top slots move the wall down by as many', () => {
  assert.equal(wallDescriptor(64, 4, [0, 1, 2, 60, 61, 62, 63]), 56);
  assert.equal(wallDescriptor(64, 4, [0, 1, 2, 63, 61]), 58);
  // One above the limit (inherited before it was lowered) takes no slot.
  assert.equal(wallDescriptor(64, 4, [0, 1, 2, 70]), 60);
});

test('no limit: no wall; a table already full: the wall is at 0', () => {
  assert.equal(wallDescriptor(null, 4, [0, 1, 2]), Infinity);
  assert.equal(wallDescriptor(4, 4, [0, 1, 2, 3]), 0);
});

test('this process: the descriptors /proc lists include stdin, stdout and stderr', () => {
  const open = openDescriptors();
  for (const fd of [0, 1, 2]) assert.ok(open.includes(fd), `fd ${fd} in ${open.join(',')}`);
});
