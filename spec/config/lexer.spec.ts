/**
 * @module spec/config/lexer
 * The line grammar: comments, sections, `=` splitting, CRLF, BOM, tabs, include.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lex, type LexItem } from '../../lib/config/lexer';
import { tempDir } from '../helpers/daemon';

const brief = (items: readonly LexItem[]) => items.map((i) =>
  i.kind === 'section' ? `[${i.name}]@${i.line}` : i.kind === 'entry' ? `${i.section}|${i.key}=${i.value}@${i.line}` : `!${i.message}@${i.line}`);

describe('lexer', () => {
  test('whole-line comments only: a # after a value is part of the value', () => {
    const r = lex('; c1\n# c2\n  ;c3\naccept = 443 # https\nx = a ; b\n', 'f');
    assert.deepEqual(brief(r.items), ['null|accept=443 # https@4', 'null|x=a ; b@5']);
  });

  test('CRLF, a last line without newline, tabs and blanks around =', () => {
    const r = lex('a = 1\r\n\t  Connect\t=\t127.0.0.1:17002   \r\nlast=x', 'f');
    assert.deepEqual(brief(r.items), ['null|a=1@1', 'null|Connect=127.0.0.1:17002@2', 'null|last=x@3']);
    assert.equal(r.items[1].text, 'Connect\t=\t127.0.0.1:17002');
  });

  test('split at the first =; values keep later = signs; no = is an error', () => {
    const r = lex('socket = a:SO_LINGER=1:0\naccept 127.0.0.1:1\n[svc2\n', 'f');
    assert.deepEqual(brief(r.items), ['null|socket=a:SO_LINGER=1:0@1', "!No '=' found@2", "!No '=' found@3"]);
  });

  test('section names are verbatim: spaces, dots, empty, duplicates', () => {
    const r = lex('[ my svc ]\na=1\n[imap.example]\n[]\n[imap.example]\nb=2\n', 'f');
    assert.deepEqual(brief(r.items), ['[ my svc ]@1', ' my svc |a=1@2', '[imap.example]@3', '[]@4', '[imap.example]@5', 'imap.example|b=2@6']);
  });

  test('a UTF-8 BOM is skipped on the first line and reported', () => {
    assert.equal(lex('\uFEFFa=1\n', 'f').bom, true);
    assert.deepEqual(brief(lex('\uFEFFa=1\n', 'f').items), ['null|a=1@1']);
    assert.equal(lex('a=1\n', 'f').bom, false);
  });

  describe('include', () => {
    const dir = tempDir('stunnel-ts-lex-');
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('every regular file in byte order, parsed in place, sections carry over', () => {
      const inc = join(dir, 'conf.d');
      mkdirSync(join(inc, 'sub'), { recursive: true });
      writeFileSync(join(inc, '01-x.conf'), '[x]\naccept = 1\n');
      writeFileSync(join(inc, '02-y.txt'), 'connect = 2\n');
      writeFileSync(join(inc, '.hidden'), 'debug = 7\n');
      writeFileSync(join(inc, 'sub', 'z.conf'), 'never = 1\n');
      const r = lex(`foreground = yes\ninclude = ${inc}\nafter = 1\n`, 'main');
      assert.deepEqual(brief(r.items), ['null|foreground=yes@1', 'null|debug=7@1', '[x]@1', 'x|accept=1@2', 'x|connect=2@1', 'x|after=1@3']);
      assert.equal(r.items[1].file, join(inc, '.hidden'));
    });

    test('a missing directory fails with scandir detail', () => {
      const r = lex(`include = ${join(dir, 'nope')}\n`, 'main');
      assert.equal(r.items.length, 1);
      const e = r.items[0];
      assert.ok(e.kind === 'error');
      assert.equal(e.message, 'Failed to include directory');
      assert.deepEqual(e.details, ['scandir: No such file or directory (2)']);
    });
  });
});
