/**
 * @module spec/helpers/dns
 * Just enough of DNS over UDP for a test's own name server (inside a namespace whose
 * /etc/resolv.conf names it): the question of a query, and an answer to it.
 */

/** The question's end (after QNAME, QTYPE, QCLASS) and its name. */
export function question(query: Buffer): { end: number; name: string } {
  const labels: string[] = [];
  let i = 12;
  while (query[i] !== 0) {
    labels.push(query.subarray(i + 1, i + 1 + query[i]).toString('latin1'));
    i += query[i] + 1;
  }
  return { end: i + 5, name: labels.join('.') };
}

/**
 * The response to `query`: with `ip`, an A query gets that address (other types: no data);
 * without, the response code `rcode` (3 NXDOMAIN: the name does not exist, 2 SERVFAIL).
 */
export function dnsResponse(query: Buffer, answer: { ip: string } | { rcode: number }): Buffer {
  const { end } = question(query);
  const isA = query.readUInt16BE(end - 4) === 1;
  const ip = 'ip' in answer && isA ? answer.ip : null;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  // A response, recursion desired and available, and the response code.
  header.writeUInt16BE(0x8180 | ('rcode' in answer ? answer.rcode : 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ip ? 1 : 0, 6);
  const record = ip ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ip.split('.').map(Number)]) : Buffer.alloc(0);
  return Buffer.concat([header, query.subarray(12, end), record]);
}
