/**
 * @module config/lexer
 * stunnel.conf text → a flat list of section headers, `name = value` entries and
 * line errors, each with its file and 1-based line. `include = DIR` is expanded in
 * place. Pure apart from reading the included files.
 *
 * The grammar, as stunnel 5.68 reads it: `\r` is dropped anywhere; a UTF-8 BOM is
 * skipped on the first line; each line is trimmed; a line whose first character is
 * `;` or `#` is a comment (there are NO inline comments: `x = y # z` has the value
 * `y # z`); `[name]` opens a section whose name is kept verbatim; anything else is
 * split at the first `=` and both sides are trimmed.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errnoText } from '../errno';

/** What every item carries: where it was written. `text` is the trimmed raw line. */
interface Located {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

export interface SectionItem extends Located {
  readonly kind: 'section';
  readonly name: string;
}

export interface EntryItem extends Located {
  readonly kind: 'entry';
  /** The section this entry belongs to; null = the global part. */
  readonly section: string | null;
  readonly key: string;
  readonly value: string;
}

/** A line the lexer itself rejects; `details` are the lines stunnel prints before it. */
export interface LineErrorItem extends Located {
  readonly kind: 'error';
  readonly message: string;
  readonly details: readonly string[];
}

export type LexItem = SectionItem | EntryItem | LineErrorItem;

export interface LexResult {
  readonly items: readonly LexItem[];
  /** The main file started with a UTF-8 byte order mark. */
  readonly bom: boolean;
}

/** Mutable state shared by nested includes: the section currently open. */
interface Cursor {
  section: string | null;
  readonly items: LexItem[];
  /** realpaths of the directories being included, outermost first: an include loop ends here. */
  readonly including: string[];
}

/**
 * stunnel's isspace() trim, in linear time (an anchored regex such as /\s+$/ is
 * quadratic on a long run of blanks followed by a word).
 */
function trim(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isBlank(s.charCodeAt(start))) start++;
  while (end > start && isBlank(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** space, \t, \n, \v, \f (\r never reaches here). */
function isBlank(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 12);
}

/** Lexes one file's text; `include` lines read their directories from disk. */
export function lex(text: string, file: string): LexResult {
  const cursor: Cursor = { section: null, items: [], including: [] };
  const bom = lexInto(cursor, text, file);
  return { items: cursor.items, bom };
}

function lexInto(cursor: Cursor, text: string, file: string): boolean {
  let bom = false;
  if (text.startsWith('\uFEFF')) {
    bom = true;
    text = text.slice(1);
  }
  const lines = text.replace(/\r/g, '').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let index = 0; index < lines.length; index++) lexLine(cursor, trim(lines[index]), file, index + 1);
  return bom;
}

function lexLine(cursor: Cursor, line: string, file: string, lineNo: number): void {
  if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
  const at = { file, line: lineNo, text: line };
  if (line.startsWith('[') && line.endsWith(']') && line.length >= 2) {
    cursor.section = line.slice(1, -1);
    cursor.items.push({ kind: 'section', name: cursor.section, ...at });
    return;
  }
  const eq = line.indexOf('=');
  if (eq < 0) {
    cursor.items.push({ kind: 'error', message: "No '=' found", details: [], ...at });
    return;
  }
  const key = trim(line.slice(0, eq));
  const value = trim(line.slice(eq + 1));
  if (key.toLowerCase() === 'include') {
    includeDirectory(cursor, value, at);
    return;
  }
  cursor.items.push({ kind: 'entry', section: cursor.section, key, value, ...at });
}

/** Every regular file of `dir`, sorted as alphasort does (byte order), lexed in place. */
function includeDirectory(cursor: Cursor, dir: string, at: Located): void {
  let names: string[];
  let real: string;
  try {
    real = realpathSync(dir);
    names = readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  } catch (err) {
    cursor.items.push({
      kind: 'error', message: 'Failed to include directory', details: [`scandir: ${errnoText(err)}`], ...at,
    });
    return;
  }
  // stunnel 5.68 recurses until its stack runs out; we refuse the loop by name.
  if (cursor.including.includes(real)) {
    cursor.items.push({
      kind: 'error', message: `Failed to include directory: include loop (${real} is already being included)`,
      details: [], ...at,
    });
    return;
  }
  cursor.including.push(real);
  try {
    includeFiles(cursor, dir, names, at);
  } finally {
    cursor.including.pop();
  }
}

function includeFiles(cursor: Cursor, dir: string, names: readonly string[], at: Located): void {
  for (const name of names) {
    const path = join(dir, name);
    let bytes: Buffer;
    try {
      if (!statSync(path).isFile()) continue;
      bytes = readFileSync(path);
    } catch (err) {
      cursor.items.push({
        kind: 'error', message: 'Failed to include a file', details: [`${path}: ${errnoText(err)}`], ...at,
      });
      continue;
    }
    lexInto(cursor, decodeConfigBytes(bytes), path);
  }
}

/**
 * stunnel treats the file as bytes; we decode UTF-8 when it is valid UTF-8 and keep
 * each byte as a character otherwise, so no line is ever lost to decoding.
 */
export function decodeConfigBytes(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.includes('\uFFFD') && !bytes.includes(Buffer.from('\uFFFD')) ? bytes.toString('latin1') : text;
}
