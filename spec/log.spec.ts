/**
 * @module spec/log
 * The log: line format, start-up buffering and `[!]` lines, level filtering, the output
 * file (append, overwrite, reopen after a rename), lines written together at the end of
 * the event-loop turn (and at once on exit), and syslog datagrams on a test socket.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanText, formatLine, formatStartupLine, Log, SYSLOG_PATH_ENV, type LogSettings } from '../lib/log';
import { nativeAddon } from '../lib/native';
import { tempDir } from './helpers/daemon';

const dir = tempDir('stunnel-ts-log-');
after(() => rmSync(dir, { recursive: true, force: true }));

const LINE = /^\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d LOG(\d)\[([^\]]+)\]: (.*)$/;

function settings(overrides: Partial<LogSettings>): LogSettings {
  return { level: 5, connectionLevel: 5, output: null, overwrite: false, stderr: false, syslog: null, ...overrides };
}

function fileLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean);
}

describe('line format', () => {
  test('formatLine uses local time and stunnel layout', () => {
    const date = new Date(2024, 0, 2, 3, 4, 5);
    assert.equal(formatLine(date, 5, 'ui', 'hello'), '2024.01.02 03:04:05 LOG5[ui]: hello');
  });
  test('start-up lines carry the level tag', () => {
    assert.deepEqual([0, 3, 4, 5, 7].map((l) => formatStartupLine(l as 0, 'x')), ['[*] x', '[!] x', '[:] x', '[.] x', '[ ] x']);
  });
  test('texts are cleaned: trailing newline, control characters, 1024 bytes', () => {
    assert.equal(cleanText('a\tb\x01c\n'), 'a.b.c');
    assert.equal(cleanText('é'.repeat(600)).length, 512);
  });
});

describe('Log', () => {
  test('buffers every level until opened, then flushes only lines within the level', () => {
    const output = join(dir, 'flush.log');
    const log = new Log();
    log.write(7, 'ui', 'debug detail');
    log.write(5, 'ui', 'notice line');
    assert.equal(log.buffering, true);
    assert.deepEqual(log.startupLines(), ['[ ] debug detail', '[.] notice line']);
    log.open(settings({ output }));
    log.write(6, 'ui', 'info after open');
    log.write(3, 'ui', 'error after open');
    log.close();
    const lines = fileLines(output).map((l) => l.match(LINE)!.slice(1).join('|'));
    assert.deepEqual(lines, ['5|ui|notice line', '3|ui|error after open']);
  });

  test('main-thread lines show [main] after daemonizing; connection lines use the connection level', () => {
    const output = join(dir, 'ids.log');
    const log = new Log();
    log.open(settings({ output, connectionLevel: 7 }));
    log.write(5, 'ui', 'before');
    log.daemonized();
    log.write(5, 'ui', 'after');
    log.write(7, 'ui', 'main debug is filtered');
    log.write(7, '3', 'connection debug passes');
    assert.equal(log.enabled(7, 'ui'), false);
    assert.equal(log.enabled(7, '3'), true);
    log.close();
    assert.deepEqual(fileLines(output).map((l) => l.match(LINE)!.slice(2).join('|')),
      ['ui|before', 'main|after', '3|connection debug passes']);
  });

  test('log = overwrite truncates, append keeps', () => {
    const output = join(dir, 'mode.log');
    writeFileSync(output, 'old line\n');
    const append = new Log();
    append.open(settings({ output }));
    append.write(5, 'ui', 'appended');
    append.close();
    assert.equal(fileLines(output).length, 2);
    const overwrite = new Log();
    overwrite.open(settings({ output, overwrite: true }));
    overwrite.write(5, 'ui', 'only');
    overwrite.close();
    assert.deepEqual(fileLines(output).map((l) => l.match(LINE)![3]), ['only']);
  });

  test('an unopenable output file is a start-up error naming it', () => {
    const log = new Log();
    assert.throws(() => log.open(settings({ output: join(dir, 'missing', 'x.log') })),
      { name: 'StartupError', messages: [`Cannot open log file: ${join(dir, 'missing', 'x.log')}`] });
  });

  test('reopen() after a rename writes to a new file', () => {
    const output = join(dir, 'rotate.log');
    const log = new Log();
    log.open(settings({ output }));
    log.write(5, 'ui', 'first');
    renameSync(output, output + '.1');
    log.write(5, 'ui', 'still old');
    log.reopen();
    log.write(5, 'ui', 'second');
    log.close();
    assert.deepEqual(fileLines(output + '.1').map((l) => l.match(LINE)![3]), ['first', 'still old']);
    assert.deepEqual(fileLines(output).map((l) => l.match(LINE)![3]), ['Log file reopened', 'second']);
  });

  test('syslog datagrams: <PRI>timestamp ident: LOGn[id]: text', { skip: nativeAddon() === null && 'addon not built' }, () => {
    const addon = nativeAddon()!;
    const path = join(dir, 'syslog.sock');
    const fd = addon.dgramBind(path);
    assert.ok(fd >= 0);
    process.env[SYSLOG_PATH_ENV] = path;
    try {
      const log = new Log();
      log.open(settings({ syslog: { ident: 'tunnelling', facility: 'local7' } }));
      log.write(3, 'ui', 'to syslog');
      log.close();
      const datagram = addon.dgramReceive(fd, 2000); // backstop: the line was sent before we wait
      assert.ok(Buffer.isBuffer(datagram));
      assert.match(datagram.toString(), /^<187>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d tunnelling: LOG3\[ui\]: to syslog$/);
    } finally {
      delete process.env[SYSLOG_PATH_ENV];
      addon.close(fd);
    }
  });

  test('a missing syslog socket drops lines without failing', () => {
    process.env[SYSLOG_PATH_ENV] = join(dir, 'nobody-listens.sock');
    try {
      const output = join(dir, 'nosyslog.log');
      const log = new Log();
      log.open(settings({ output, syslog: { ident: 'stunnel', facility: 'daemon' } }));
      log.write(5, 'ui', 'still logged to the file');
      log.close();
      assert.match(readFileSync(output, 'utf8'), /LOG5\[ui\]: still logged to the file/);
    } finally {
      delete process.env[SYSLOG_PATH_ENV];
    }
  });

  test('the lines of one turn reach the file together when the turn ends; close() writes them at once', async () => {
    const output = join(dir, 'turn.log');
    const log = new Log();
    log.open(settings({ output }));
    log.write(5, 'ui', 'one');
    log.write(5, '7', 'two');
    assert.equal(readFileSync(output, 'utf8'), '', 'nothing written within the turn');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(fileLines(output).map((l) => l.match(LINE)![3]), ['one', 'two']);
    log.write(5, 'ui', 'three');
    log.close();
    assert.deepEqual(fileLines(output).map((l) => l.match(LINE)![3]), ['one', 'two', 'three']);
  });

  test('nothing is lost when the process exits right after logging', () => {
    const output = join(dir, 'exit.log');
    const script = `const { Log } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'log.js'))});
      const log = new Log();
      log.open({ level: 5, connectionLevel: 5, output: ${JSON.stringify(output)}, overwrite: false, stderr: false, syslog: null });
      for (let i = 0; i < 5000; i++) log.write(5, String(i), 'line ' + i);
      process.exit(3);`;
    const child = spawnSync(process.execPath, ['-e', script]);
    assert.equal(child.status, 3, child.stderr.toString());
    const lines = fileLines(output);
    assert.equal(lines.length, 5000);
    assert.match(lines[4999], /LOG5\[4999\]: line 4999$/);
  });

  test('open() can replay only some of the start-up lines (a worker skips what its primary showed)', () => {
    const output = join(dir, 'replay.log');
    const log = new Log();
    log.write(5, 'ui', 'shown by the primary');
    log.write(5, 'ui', 'only the worker knows');
    log.open(settings({ output }), { replay: (text) => text !== 'shown by the primary' });
    log.close();
    assert.deepEqual(fileLines(output).map((l) => l.match(LINE)![3]), ['only the worker knows']);
  });
});
