/**
 * lib/errno: one table of system error texts, glibc's words with the errno number, as stunnel
 * prints them (checked against C's strerror on Debian 12).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errnoMessage, errnoText } from '../lib/errno';

const error = (code: string) => Object.assign(new Error(`x ${code}`), { code });

test('Node errors by code read as strerror (errno)', () => {
  assert.equal(errnoText(error('ECONNREFUSED')), 'Connection refused (111)');
  assert.equal(errnoText(error('ENOENT')), 'No such file or directory (2)');
  assert.equal(errnoText(error('EMFILE')), 'Too many open files (24)');
});

test("where libuv's words differ, glibc's are used", () => {
  assert.equal(errnoText(error('EADDRNOTAVAIL')), 'Cannot assign requested address (99)');
  assert.equal(errnoText(error('ELOOP')), 'Too many levels of symbolic links (40)');
  assert.equal(errnoText(error('EISDIR')), 'Is a directory (21)');
  assert.equal(errnoText(error('ENFILE')), 'Too many open files in system (23)');
});

test('anything without a known code keeps its message', () => {
  assert.equal(errnoText(new Error('plain')), 'plain');
  assert.equal(errnoText(error('ERR_SOMETHING')), 'x ERR_SOMETHING');
  assert.equal(errnoText('text'), 'text');
});

test('negative errnos from the native addon', () => {
  assert.equal(errnoMessage(-1), 'Operation not permitted (1)');
  assert.equal(errnoMessage(-2), 'No such file or directory (2)');
});
