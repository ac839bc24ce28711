/**
 * @module spec/fuzz/proxy-header-fuzz
 * Hostile bytes at the PROXY header parser (acceptProxy reads them before anything else):
 * mutated valid v1/v2 headers and random bytes, each fed whole and in random splits. The
 * parser must never throw, must answer the same for the same bytes whichever way they were
 * split, must never claim more bytes than it was given or than the caps allow, and a `done`
 * must name a client with valid addresses and ports.
 * Seed: $FUZZ_SEED, else random (printed); `FUZZ_CASES` overrides the count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { MAX_V1_LENGTH, MAX_V2_BODY, parseProxyHeader, proxyV1, proxyV2, type HeaderParse } from '../../lib/engine/proxy-header';
import { caseRng, type Prng } from '../helpers/fuzz';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env.FUZZ_CASES ?? 3000);

const FACTS = { alpn: 'h2', servername: 'a.test', version: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256', certConnection: false, certSession: false, verified: false, commonName: null };
const SEEDS: readonly Buffer[] = [
  proxyV1({ address: '127.0.9.9', port: 40000, localAddress: '127.0.2.1', localPort: 443 }),
  proxyV1({ address: '2001:db8::1', port: 1, localAddress: '::1', localPort: 2 }),
  proxyV1(null),
  proxyV2({ address: '127.0.9.9', port: 40000, localAddress: '127.0.2.1', localPort: 443 }, FACTS),
  proxyV2({ address: '2001:db8::1', port: 1, localAddress: '::1', localPort: 2 }, null),
  proxyV2(null, null),
];

function mutate(rng: Prng, seed: Buffer): Buffer {
  const bytes = Buffer.from(seed);
  switch (rng.int(6)) {
    case 0: return rng.bytes(rng.int(300));
    case 1: { // flip some bytes
      for (let n = rng.int(4) + 1; n > 0; n--) bytes[rng.int(bytes.length)] = rng.int(256);
      return bytes;
    }
    case 2: return bytes.subarray(0, rng.int(bytes.length + 1));
    case 3: return Buffer.concat([bytes, rng.bytes(rng.int(200))]);
    case 4: { // a v2 length field set at random
      if (bytes.length >= 16) bytes.writeUInt16BE(rng.int(65536), 14);
      return bytes;
    }
    default: { // a v1 field replaced by junk
      const text = bytes.toString('latin1').split(' ');
      text[rng.int(text.length)] = rng.bytes(rng.int(40)).toString('latin1');
      return Buffer.from(text.join(' '), 'latin1');
    }
  }
}

/** The same bytes in random chunks, as a socket would deliver them. */
function inChunks(rng: Prng, data: Buffer): HeaderParse {
  let end = 0;
  let result: HeaderParse = { kind: 'more' };
  while (end < data.length) {
    end = Math.min(data.length, end + 1 + rng.int(20));
    result = parseProxyHeader(data.subarray(0, end));
    if (result.kind !== 'more') return result;
  }
  return result;
}

function problem(data: Buffer, whole: HeaderParse): string | null {
  if (whole.kind !== 'done') return null;
  if (whole.length > data.length) return `claims ${whole.length} of ${data.length} bytes`;
  if (whole.length > Math.max(MAX_V1_LENGTH, 16 + MAX_V2_BODY)) return `length ${whole.length} past the caps`;
  const c = whole.client;
  if (c === null) return null;
  if (!isIP(c.address) || !isIP(c.localAddress)) return `bad address ${c.address} / ${c.localAddress}`;
  if (![c.port, c.localPort].every((p) => Number.isInteger(p) && p >= 0 && p <= 65535)) return `bad port ${c.port} / ${c.localPort}`;
  return null;
}

test(`PROXY header parser: ${CASES} hostile inputs (seed ${SEED})`, () => {
  for (let i = 0; i < CASES; i++) {
    const rng = caseRng(SEED, i);
    const data = mutate(rng, rng.pick(SEEDS));
    const label = `case ${i} (FUZZ_SEED=${SEED}): ${data.toString('hex')}`;
    let whole: HeaderParse;
    let split: HeaderParse;
    try {
      whole = parseProxyHeader(data);
      split = inChunks(rng, data);
    } catch (err) {
      assert.fail(`${label}: threw ${(err as Error).stack}`);
    }
    // A prefix may already decide what the whole does not change: compare only decided outcomes.
    if (whole.kind !== 'more' && split.kind !== 'more') assert.deepEqual(split, whole, label);
    assert.equal(problem(data, whole), null, label);
  }
});
