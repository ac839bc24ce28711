/**
 * The client-mode protocols, negotiated with the server before the handshake as stunnel 5.68
 * does. `smtp | pop3 | imap`: stunnel-ts asks the server to start TLS (STARTTLS / STLS); with
 * Debian's stunnel 5.68 as the STARTTLS server in front of a plain greeting backend, bytes go
 * through intact and the client sees the greeting stunnel passes on. `connect`: through a real
 * HTTP proxy (tinyproxy, with basic authentication) to stunnel 5.68's TLS port. Against
 * scripted servers over real sockets, each refusal gets stunnel's LOG3 line and its close, and
 * every dialogue line is logged at LOG7.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { pki } from '../helpers/pki';
import { Running, writeConf } from '../helpers/daemon';
import { closedPort } from '../helpers/config';
import { greetedExchange, GREETINGS, ProtocolPeers } from '../helpers/protocols';
import { peerPath, skipWithout } from '../helpers/peers';

const p = pki();
const peers = new ProtocolPeers('stunnel-ts-negotiate-');
after(() => peers.stopAll());
const { greetingBackend, scriptedServer, stunnel4 } = peers;

/** stunnel-ts in client mode with `protocol` towards `port` (`extra`: more service lines); resolves with the daemon and its accept port. */
const negotiatingClient = (name: string, protocol: string, port: number, extra = '') =>
  peers.stunnelTs(name, `[${protocol}]\nclient = yes\nprotocol = ${protocol}\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${port}\n${extra}`);

describe('with Debian stunnel 5.68 as the STARTTLS server', { skip: skipWithout('stunnel4') }, () => {
  const expected: Record<string, string> = {
    smtp: '220 backend.example stunnel for ESMTP',
    pop3: '+OK backend POP3 + stunnel',
    imap: '* OK Connected.',
  };
  for (const protocol of ['smtp', 'pop3', 'imap']) {
    test(`${protocol}: the client sees the greeting, then 256 KiB go through TLS and back intact`, async () => {
      const backend = await greetingBackend(protocol);
      const theirs = stunnel4(`${protocol}-server.conf`, `[${protocol}]\nprotocol = ${protocol}\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${backend}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
      await theirs.waitFor(/Accepting new connections|Configuration successful/);
      const ours = await negotiatingClient(`${protocol}-client`, protocol, await theirs.port());
      const r = await greetedExchange(ours.port, 1, 256 * 1024);
      assert.deepEqual(r.greeting, [expected[protocol]]);
      assert.equal(r.received, r.sent);
      await ours.daemon.waitFor(/LOG5\[\d+\]: Connection closed: 262144 byte\(s\) sent to TLS, 262144 byte\(s\) sent to socket$/);
      assert.ok(ours.daemon.lines.some((l) => /LOG6\[\d+\]: TLS connected: new session negotiated$/.test(l)));
    });
  }
});

describe('the dialogue, line by line, against scripted servers', () => {
  let smtpOk: number;
  before(async () => {
    smtpOk = await scriptedServer('220-first\r\n220 ready\r\n', (line) => (/^EHLO /.test(line) ? '250-here\r\n250 STARTTLS\r\n' : 'close'));
  });

  test('smtp: greeting lines passed on, EHLO localhost and STARTTLS sent, each logged at LOG7', async () => {
    const seen: string[] = [];
    const port = await scriptedServer('220-first\r\n220 ready\r\n', (line) => {
      seen.push(line);
      return /^EHLO /.test(line) ? '250-here\r\n250 STARTTLS\r\n' : /^STARTTLS$/.test(line) ? '220 go ahead\r\n' : 'close';
    });
    const { daemon, port: accept } = await negotiatingClient('smtp-lines', 'smtp', port);
    const client = connect(accept, '127.0.0.1');
    client.on('error', () => undefined);
    let got = '';
    client.on('data', (c: Buffer) => { got += c.toString(); });
    // The scripted server cannot speak TLS: the handshake then fails, after the dialogue.
    await daemon.waitFor(/LOG3\[\d+\]: SSL_connect: /);
    client.destroy();
    assert.equal(got, '220-first\r\n220 ready\r\n');
    assert.deepEqual(seen.slice(0, 2), ['EHLO localhost', 'STARTTLS']);
    // What came next was the TLS ClientHello (a handshake record, 0x16), split wherever it held a 0x0a.
    if (seen.length > 2) assert.equal(seen[2].charCodeAt(0), 0x16);
    const dialogue = daemon.lines.filter((l) => /LOG7\[\d+\]: {2}(<-|->) /.test(l)).map((l) => l.replace(/^.*LOG7\[\d+\]: /, ''));
    assert.deepEqual(dialogue, [
      ' <- 220-first', ' -> 220-first', ' <- 220 ready', ' -> 220 ready',
      ' -> EHLO localhost', ' <- 250-here', ' <- 250 STARTTLS', ' -> STARTTLS', ' <- 220 go ahead',
    ]);
  });

  const refusals: Array<[string, string, () => Promise<number>, string, string, string]> = [
    ['smtp: EHLO refused', 'smtp', () => scriptedServer('220 ready\r\n', () => '502 no\r\n'), 'Remote server is not RFC 1425 compliant', 'reset', '220 ready\r\n'],
    ['smtp: STARTTLS refused', 'smtp', () => scriptedServer('220 ready\r\n', (l) => (/^EHLO/.test(l) ? '250 here\r\n' : '454 TLS not available\r\n')), 'Remote server is not RFC 2487 compliant', 'reset', '220 ready\r\n'],
    ['smtp: the server hangs up in the middle', 'smtp', () => Promise.resolve(smtpOk), 's_read: Unexpected socket close', 'reset', '220-first\r\n220 ready\r\n'],
    ['pop3: not a POP3 greeting', 'pop3', () => scriptedServer('554 go away\r\n', () => 'silent'), 'Unknown server welcome', 'reset', ''],
    ['pop3: STLS refused', 'pop3', () => scriptedServer('+OK hi\r\n', () => '-ERR no\r\n'), 'Server does not support TLS', 'reset', '+OK hi\r\n'],
    ['imap: not an IMAP greeting', 'imap', () => scriptedServer('554 go away\r\n', () => 'silent'), 'Unknown server welcome', 'reset', ''],
    ['imap: STARTTLS refused (the client is told BYE)', 'imap', () => scriptedServer('* OK hi\r\n', (l) => `${l.split(' ')[0]} NO nope\r\n`), 'Server does not support TLS', 'closed',
      '* OK Connected.\r\n* BYE stunnel: Server does not support TLS\r\n'],
    // stunnel-ts's own guard: a server line is a few hundred bytes, not an unbounded buffer.
    ['pop3: a greeting that never ends its line', 'pop3', () => scriptedServer('+OK '.padEnd(70_000, 'x'), () => 'silent'), 's_read: Line too long', 'reset', ''],
  ];
  for (const [name, protocol, server, line, status, clientSees] of refusals) {
    test(`${name}: \`${line}\` at LOG3, Connection ${status}`, async () => {
      const { daemon, port } = await negotiatingClient(name.replace(/\W+/g, '-'), protocol, await server());
      const client = connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      let got = '';
      client.on('data', (c: Buffer) => { got += c.toString(); });
      const closed = new Promise((resolve) => client.on('close', resolve));
      const id = (await daemon.waitFor(new RegExp(`LOG3\\[(\\d+)\\]: ${line.replace(/[.()]/g, '\\$&')}$`)))[1];
      await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection ${status}: 0 byte\\(s\\) sent to TLS, 0 byte\\(s\\) sent to socket$`));
      await closed;
      assert.equal(got, clientSees);
      assert.equal(daemon.child.exitCode, null);
    });
  }

  test('a server that never answers: TIMEOUTbusy ends the dialogue', async () => {
    const port = await scriptedServer('', () => 'silent');
    const { daemon, port: accept } = await negotiatingClient('silent', 'smtp', port, 'TIMEOUTbusy = 1\n');
    const client = connect(accept, '127.0.0.1');
    client.on('error', () => undefined);
    const id = (await daemon.waitFor(/LOG6\[(\d+)\]: s_read_eof: s_poll_wait: TIMEOUTbusy exceeded: sending reset$/))[1];
    await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection reset: 0 byte\\(s\\) sent to TLS, 0 byte\\(s\\) sent to socket$`));
    client.destroy();
  });
});

describe('pgsql: the SSLRequest before the handshake', () => {
  test('with stunnel 5.68 as the pgsql server: 256 KiB through both, intact', { skip: skipWithout('stunnel4') }, async () => {
    const backend = await peers.greetingBackend('smtp');
    const theirs = stunnel4('pgsql-server.conf', `[pgsql]\nprotocol = pgsql\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${backend}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
    await theirs.waitFor(/Configuration successful/);
    const ours = await negotiatingClient('pgsql-client', 'pgsql', await theirs.port());
    const r = await greetedExchange(ours.port, 1, 256 * 1024);
    assert.deepEqual(r.greeting, [GREETINGS.smtp]);
    assert.equal(r.received, r.sent);
  });

  test('a server that answers N: `PostgreSQL server rejected TLS`, Connection reset', async () => {
    const seen: string[] = [];
    const server = await peers.chunkServer((chunk) => { seen.push(chunk.toString('hex')); return 'N'; });
    const { daemon, port } = await negotiatingClient('pgsql-refused', 'pgsql', server);
    const client = connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    const id = (await daemon.waitFor(/LOG3\[(\d+)\]: PostgreSQL server rejected TLS$/))[1];
    await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection reset: `));
    client.destroy();
    assert.deepEqual(seen, ['0000000804d2162f'], 'the SSLRequest, and nothing else');
  });
});

describe('nntp and ldap: STARTTLS for news and directory servers', () => {
  /** Runs a client of `protocol` against `server` until its handshake fails (the scripted server speaks no TLS) or it is refused. */
  async function dialogue(name: string, protocol: string, server: number, until: RegExp): Promise<string[]> {
    const { daemon, port } = await negotiatingClient(name, protocol, server);
    const client = connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    const id = (await daemon.waitFor(until))[1];
    client.destroy();
    return daemon.lines.filter((l) => l.includes(`[${id}]: `)).map((l) => l.replace(/^.*(LOG\d)\[\d+\]: /, '$1 '));
  }

  test('nntp: the greeting passed on, STARTTLS, 382, then the handshake', async () => {
    const server = await scriptedServer('200 news ready\r\n', (l) => (l === 'STARTTLS' ? '382 go ahead\r\n' : 'close'));
    const lines = await dialogue('nntp-ok', 'nntp', server, /LOG3\[(\d+)\]: SSL_connect: /);
    assert.deepEqual(lines.filter((l) => / (<-|->) /.test(l)), [
      'LOG7  <- 200 news ready', 'LOG7  -> 200 news ready', 'LOG7  -> STARTTLS', 'LOG7  <- 382 go ahead',
    ]);
  });

  for (const [name, greeting, answer, line] of [
    ['not a news greeting', '502 no permission\r\n', '382 go\r\n', 'Unknown server welcome'],
    ['STARTTLS refused', '201 ready, no posting\r\n', '580 no TLS\r\n', 'Server does not support TLS'],
  ]) {
    test(`nntp, ${name}: \`${line}\`, Connection reset`, async () => {
      const server = await scriptedServer(greeting, () => answer);
      const lines = await dialogue(`nntp-${name.replace(/\W+/g, '-')}`, 'nntp', server, /LOG5\[(\d+)\]: Connection reset: /);
      assert.ok(lines.includes(`LOG3 ${line}`), lines.join('\n'));
    });
  }

  const ldapResponse = (messageId: number, resultCode: number, tag = 0x30) =>
    Buffer.from([tag, 0x0c, 0x02, 0x01, messageId, 0x78, 0x07, 0x0a, 0x01, resultCode, 0x04, 0x00, 0x04, 0x00]);

  test('ldap: the StartTLS extended request, a success response, then the handshake', async () => {
    const requests: string[] = [];
    const server = await peers.chunkServer((chunk) => { requests.push(chunk.toString('hex')); return ldapResponse(1, 0); });
    const lines = await dialogue('ldap-ok', 'ldap', server, /LOG3\[(\d+)\]: SSL_connect: /);
    assert.equal(requests[0], `301d02010177188016${Buffer.from('1.3.6.1.4.1.1466.20037').toString('hex')}`);
    assert.deepEqual(lines.filter((l) => /LDAP/.test(l)), [
      'LOG7 Sending LDAP Start TLS request', 'LOG7 Receiving LDAP response tag', 'LOG7 Receiving LDAP response length',
      'LOG7 Receiving LDAP response value (12 byte(s))', 'LOG7 Decoding LDAP response value', 'LOG6 LDAP Start TLS successfully negotiated',
    ]);
  });

  for (const [name, response, line] of [
    ['an error result', ldapResponse(1, 2), 'LDAP response has indicated an error (2)'],
    ['another message id', ldapResponse(2, 0), 'LDAP response has an unexpected message ID value'],
    ['not a SEQUENCE', ldapResponse(1, 0, 0x31), 'LDAP response is not UNIVERSAL SEQUENCE'],
  ] as const) {
    test(`ldap, ${name}: \`${line}\`, Connection reset`, async () => {
      const server = await peers.chunkServer(() => response);
      const lines = await dialogue(`ldap-${name.replace(/\W+/g, '-')}`, 'ldap', server, /LOG5\[(\d+)\]: Connection reset: /);
      assert.ok(lines.includes(`LOG3 ${line}`), lines.join('\n'));
    });
  }
});

describe('connect: through an HTTP proxy (tinyproxy) to a TLS server', { skip: skipWithout('stunnel4', 'tinyproxy') }, () => {
  let proxyPort: number;
  let serverPort: number;

  before(async () => {
    const backend = await greetingBackend('smtp');
    const theirs = stunnel4('tls-server.conf', `[tls]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${backend}\ncert = ${p.serverCert}\nkey = ${p.serverKey}`);
    await theirs.waitFor(/Configuration successful/);
    serverPort = await theirs.port();
    proxyPort = await closedPort();
    const conf = writeConf(peers.dir, 'tinyproxy.conf', `Port ${proxyPort}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 60\nBasicAuth user secret\nLogLevel Info\n`);
    const proxy = new Running(spawn(peerPath('tinyproxy'), ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }));
    peers.track(proxy);
    await proxy.waitFor(/Accepting connections/);
  });

  const proxied = (name: string, extra: string) => negotiatingClient(name, 'connect', proxyPort,
    `protocolHost = localhost:${serverPort}\nverifyChain = yes\nCAfile = ${p.caFile}\ncheckHost = localhost\n${extra}`);

  // The client half-closes after sending: tinyproxy closes both ways at the first FIN, so the
  // echo only comes back whole because the tunnel's close_notify is not followed by a FIN.
  test('CONNECT with basic authentication: the server verified by name (SNI from protocolHost), 256 KiB intact after a half-close', async () => {
    const { daemon, port } = await proxied('connect-ok', 'protocolUsername = user\nprotocolPassword = secret\nprotocolHeader = X-Tunnel: stunnel-ts\n');
    const r = await greetedExchange(port, 1, 256 * 1024);
    assert.deepEqual(r.greeting, ['220 backend.example ESMTP']);
    assert.equal(r.receivedBytes, 256 * 1024, daemon.lines.slice(-12).join('\n'));
    assert.equal(r.received, r.sent);
    const dialogue = daemon.lines.filter((l) => /LOG7\[\d+\]: {2}-> /.test(l)).map((l) => l.replace(/^.*LOG7\[\d+\]: /, ''));
    assert.deepEqual(dialogue, [
      ` -> CONNECT localhost:${serverPort} HTTP/1.1`, ` -> Host: localhost:${serverPort}`,
      ` -> Proxy-Authorization: basic ${Buffer.from('user:secret').toString('base64')}`, ' -> X-Tunnel: stunnel-ts', ' -> ',
    ]);
    assert.ok(daemon.lines.some((l) => /LOG7\[\d+\]: {2}<- HTTP\/1\.[01] 200 /.test(l)), daemon.lines.join('\n'));
    assert.ok(daemon.lines.some((l) => /LOG6\[\d+\]: SNI: sending servername: localhost$/.test(l)));
  });

  test('a wrong password: `CONNECT request rejected` at LOG3, Connection reset', async () => {
    const { daemon, port } = await proxied('connect-denied', 'protocolUsername = user\nprotocolPassword = wrong\n');
    const client = connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    const id = (await daemon.waitFor(/LOG3\[(\d+)\]: CONNECT request rejected$/))[1];
    await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection reset: 0 byte\\(s\\) sent to TLS, 0 byte\\(s\\) sent to socket$`));
    assert.ok(daemon.lines.some((l) => new RegExp(`LOG7\\[${id}\\]:  <- HTTP/1\\.[01] 401 `).test(l)), daemon.lines.join('\n'));
    client.destroy();
  });

  test('no protocolHost: `protocolHost not specified` for each connection, as stunnel', async () => {
    const { daemon, port } = await negotiatingClient('connect-nohost', 'connect', proxyPort);
    const client = connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    const id = (await daemon.waitFor(/LOG3\[(\d+)\]: protocolHost not specified$/))[1];
    await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection reset: `));
    client.destroy();
  });
});
