/**
 * @module spec/packaging/man
 * man/stunnel-ts.8 renders without a warning, and documents every option of
 * lib/config/options.ts with the status the table gives it (supported, accepted with a
 * notice, refused), for each value that changes that status.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPTIONS, type OptionStatus } from '../../lib/config/options';
import { REPO, run } from './fixtures';

const PAGE = join(REPO, 'man/stunnel-ts.8');
const PHRASES: Record<OptionStatus['kind'], string> = {
  supported: 'supported',
  notice: 'accepted with a notice',
  refused: 'refused',
};

/** roff source → option name → the text of its entry (entries grouped with .TQ share one text). */
function optionEntries(source: string): Map<string, string> {
  const entries = new Map<string, string>();
  let names: string[] = [];
  let body: string[] = [];
  let inHeader = false;
  const flush = () => {
    const text = body.join(' ').replace(/\\f[BIRP]/g, '').replace(/\\-/g, '-').replace(/\s+/g, ' ').trim();
    for (const name of names) entries.set(name, text);
    names = [];
    body = [];
  };
  for (const line of source.split('\n')) {
    if (line.startsWith('.TP') || line.startsWith('.SH') || line.startsWith('.SS')) {
      flush();
      inHeader = line.startsWith('.TP');
      continue;
    }
    if (line.startsWith('.TQ')) {
      inHeader = true;
      continue;
    }
    const header = inHeader ? line.match(/^\.B[IR]? "(\w+) = "/) : null;
    if (header) {
      names.push(header[1]);
      inHeader = false;
      continue;
    }
    inHeader = false;
    body.push(line.replace(/^\.[A-Za-z]+ ?/, '').replace(/"/g, ''));
  }
  flush();
  return entries;
}

/** Options whose status depends on the value, with values giving each status. */
const TELLING_VALUES: Record<string, readonly string[]> = {
  fips: ['yes', 'no'], libwrap: ['yes', 'no'], pty: ['yes', 'no'], OCSPaia: ['yes', 'no'], OCSPnonce: ['yes', 'no'],
  protocol: ['proxy', 'socks'], protocolAuthentication: ['basic', 'ntlm'], transparent: ['none', 'source'],
};
/** Ordinary values; the first one an option parses stands for all of them. */
const PLAIN_VALUES = ['127.0.0.1:443', 'yes', '1', 'NO_TICKET', 'a:SO_REUSEADDR=yes', 'append', 'rr', 'unique', 'zlib', 'TLSv1.2', '0123456789abcdef0123456789abcdef'];

/** Every status an option can have, by the table. */
function statusKinds(row: (typeof OPTIONS)[number]): Set<OptionStatus['kind']> {
  const parsed = (value: string) => {
    try {
      return { value: row.parse(value, { inGlobal: true }) };
    } catch {
      return null; // Not a value of this option.
    }
  };
  const values = TELLING_VALUES[row.name]?.map(parsed) ?? [PLAIN_VALUES.map(parsed).find((p) => p !== null) ?? { value: undefined }];
  return new Set(values.map((p) => row.status(p!.value).kind));
}

test('man -l renders the page without warnings', async () => {
  const rendered = await run('man', ['--warnings', '-l', PAGE], { MANWIDTH: '80', MANPAGER: 'cat' });
  assert.equal(rendered.code, 0);
  assert.equal(rendered.stderr, '');
  for (const section of ['NAME', 'SYNOPSIS', 'COMMAND LINE', 'CONFIGURATION FILE', 'SIGNALS', 'EXIT STATUS', 'FILES', 'EXAMPLES']) {
    assert.match(rendered.stdout, new RegExp(`^${section}$`, 'm'));
  }
  assert.match(rendered.stdout, /^ {7}stunnel-ts -test FILE$/m);
});

test('every option of the table has an entry whose status matches the table', () => {
  const entries = optionEntries(readFileSync(PAGE, 'utf8'));
  for (const row of OPTIONS) {
    const text = entries.get(row.name);
    assert.ok(text !== undefined, `no entry for ${row.name}`);
    const status = text.match(/Status: (supported|accepted with a notice|refused)/);
    assert.ok(status, `no "Status:" line for ${row.name}: ${text}`);
    const kinds = statusKinds(row);
    assert.ok([...kinds].some((kind) => PHRASES[kind] === status[1]), `${row.name}: says "${status[1]}", the table says ${[...kinds].join('/')}`);
    for (const kind of kinds) assert.ok(text.includes(PHRASES[kind]), `${row.name}: the entry does not say "${PHRASES[kind]}"`);
    for (const alias of row.aliases) assert.match(text, new RegExp(`\\b${alias}\\b`), `${row.name}: alias ${alias} not mentioned`);
  }
  const known = new Set(OPTIONS.map((row) => row.name));
  for (const name of entries.keys()) assert.ok(known.has(name), `the page documents "${name}", which the table does not know`);
});
