/**
 * @module spec/process/daemon
 * `-fd N` in daemon mode: the parent reads the descriptor and can read it again (for the child).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rewindableDescriptor } from '../../lib/process/daemon';
import { tempDir } from '../helpers/daemon';

const dir = tempDir('stunnel-ts-fd-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('rewindableDescriptor returns the text and leaves the same descriptor readable from the start', () => {
  const file = join(dir, 'conf');
  writeFileSync(file, 'foreground = yes\n[s]\n');
  const spare = openSync(file, 'r');
  const fd = openSync(file, 'r');
  closeSync(spare); // a free descriptor below fd: reopening must still land on fd itself
  const bytes = rewindableDescriptor(fd);
  assert.equal(bytes.toString(), 'foreground = yes\n[s]\n');
  assert.equal(readFileSync(fd, 'utf8'), 'foreground = yes\n[s]\n');
  closeSync(fd);
});
