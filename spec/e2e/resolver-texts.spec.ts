/**
 * Names in `connect` that do not resolve, worded and retried as stunnel 5.68 does, side by
 * side with Debian's stunnel4:
 * - at start: `Error resolving "NAME": Neither nodename nor servname known (EAI_NONAME)` (LOG3),
 *   then `Cannot resolve connect target - delaying DNS lookup`;
 * - a resolver failing for now (SERVFAIL: EAI_AGAIN): `getaddrinfo: EAI_AGAIN received:
 *   retrying` three times (LOG7, a second apart), then `Temporary failure in name resolution
 *   (EAI_AGAIN)`;
 * - per connection (`delay = yes`): the same LOG3 line, then `No remote host resolved`.
 *
 * The file runs itself in network and mount namespaces of its own, with a name server of its
 * own bound over /etc/resolv.conf: `nx.*` names do not exist (NXDOMAIN), `fail.*` names get
 * SERVFAIL. No outside resolver is asked.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { pki } from '../helpers/pki';
import { writeConf, type Running } from '../helpers/daemon';
import { ProtocolPeers } from '../helpers/protocols';
import { dnsResponse, question } from '../helpers/dns';
import { inOwnNamespace } from '../helpers/netns';
import { havePeers } from '../helpers/peers';
import { linesMatching, nextLine, tlsClient } from '../helpers/net';

const RESOLVER = '127.0.5.53';
const NX = 'nx.resolver.test';
const FAIL = 'fail.resolver.test';

function inside(): void {
  const p = pki();
  const peers = new ProtocolPeers('stunnel-ts-resolver-');
  const resolver = createSocket('udp4');
  resolver.on('message', (query, from) => {
    const rcode = question(query).name.startsWith('nx.') ? 3 : 2;
    resolver.send(dnsResponse(query, { rcode }), from.port, from.address);
  });

  before(async () => {
    execFileSync('ip', ['link', 'set', 'lo', 'up']);
    resolver.bind(53, RESOLVER);
    await once(resolver, 'listening');
    const conf = writeConf(peers.dir, 'resolv.conf', `nameserver ${RESOLVER}\noptions attempts:1 timeout:2\n`);
    execFileSync('mount', ['--bind', conf, '/etc/resolv.conf']);
  });
  after(async () => {
    resolver.close();
    await peers.stopAll();
  });

  const section = (name: string, port: number, host: string, extra = '') =>
    `[${name}]\naccept = 127.0.0.1:${port}\nconnect = ${host}:80\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n${extra}`;

  let calls = 0;
  /** Both daemons on `body` (stunnel4 when installed), each once it has started. */
  async function both(t: { skip(message?: string): void }, name: string, body: (port: number) => string): Promise<Array<{ who: string; daemon: Running; port: number }>> {
    // Ports of their own per call (this namespace has nothing else listening).
    const [ourPort, theirPort] = [18800 + calls, 18900 + calls++];
    const ours = await peers.stunnelTs(name, body(ourPort));
    const started = [{ who: 'stunnel-ts', daemon: ours.daemon, port: ourPort }];
    if (havePeers(t, 'stunnel4')) {
      const theirs = peers.stunnel4(`${name}-stunnel4.conf`, `debug = 7\n${body(theirPort)}`);
      await theirs.waitFor(/Configuration successful|Cannot resolve connect target/);
      started.push({ who: 'stunnel4', daemon: theirs, port: theirPort });
    }
    return started;
  }

  test('start: a name that does not exist → EAI_NONAME, then delayed lookups', async (t) => {
    for (const { who, daemon } of await both(t, 'nx', (port) => section('nx', port, NX))) {
      await daemon.waitFor(/Cannot resolve connect target - delaying DNS lookup$/);
      const lines = linesMatching(daemon, /LOG\d\[ui\]: (Error resolving|Cannot resolve)/).map((l) => l.replace(/^.*?LOG/, 'LOG'));
      assert.deepEqual(lines, [
        `LOG3[ui]: Error resolving "${NX}": Neither nodename nor servname known (EAI_NONAME)`,
        'LOG6[ui]: Cannot resolve connect target - delaying DNS lookup',
      ], who);
    }
  });

  test('start: a resolver failing for now → three retries a second apart, then EAI_AGAIN', async (t) => {
    for (const { who, daemon } of await both(t, 'fail', (port) => section('fail', port, FAIL))) {
      await daemon.waitFor(/Cannot resolve connect target - delaying DNS lookup$/);
      const lines = linesMatching(daemon, /LOG\d\[ui\]: (Error resolving|Cannot resolve|getaddrinfo)/).map((l) => l.replace(/^.*?LOG/, 'LOG'));
      assert.deepEqual(lines, [
        ...Array<string>(3).fill('LOG7[ui]: getaddrinfo: EAI_AGAIN received: retrying'),
        `LOG3[ui]: Error resolving "${FAIL}": Temporary failure in name resolution (EAI_AGAIN)`,
        'LOG6[ui]: Cannot resolve connect target - delaying DNS lookup',
      ], who);
    }
  });

  test('per connection (delay = yes): EAI_NONAME, then No remote host resolved, and the client is let go', async (t) => {
    for (const { who, daemon, port } of await both(t, 'delayed', (port) => section('delayed', port, NX, 'delay = yes\n'))) {
      const resolved = nextLine(daemon, /LOG3\[\d+\]: No remote host resolved$/);
      // Server mode resolves once the handshake is done.
      const client = await tlsClient(port, { rejectUnauthorized: false });
      client.on('error', () => undefined);
      const closed = new Promise((resolve) => client.once('close', resolve));
      await resolved;
      const lines = linesMatching(daemon, /LOG\d\[\d+\]: (Error resolving|No remote host resolved|No more addresses)/).map((l) => l.replace(/^.*?LOG(\d)\[\d+\]/, 'LOG$1[N]'));
      assert.deepEqual(lines, [
        `LOG3[N]: Error resolving "${NX}": Neither nodename nor servname known (EAI_NONAME)`,
        'LOG3[N]: No remote host resolved',
      ], who);
      await closed;
    }
  });
}

if (inOwnNamespace(__filename, 'resolver texts and retries, in a namespace with its own name server', { mount: true })) inside();
