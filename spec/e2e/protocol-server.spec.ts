/**
 * `protocol = smtp | pop3 | imap` in server mode: stunnel-ts connects the plain backend first, reads
 * its greeting and holds the STARTTLS dialogue with the client for it, as stunnel 5.68 does
 * (the greeting passed on with `stunnel` in it, EHLO, CAPA and CAPABILITY answered, `220 Go
 * ahead` / `+OK Stunnel starts TLS negotiation` / `TAG OK Begin TLS negotiation now`), then the
 * TLS handshake on the client's connection. Real clients: curl delivering a mail over SMTP with
 * STARTTLS, openssl s_client -starttls pop3 and imap, and stunnel 5.68's own client mode. Each client that will not start TLS gets stunnel's
 * LOG3 line.
 */
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pki } from '../helpers/pki';
import { greetedExchange, GREETINGS, ProtocolPeers } from '../helpers/protocols';
import { peerPath, skipWithout } from '../helpers/peers';

const p = pki();
const peers = new ProtocolPeers('stunnel-ts-protocol-server-');
after(() => peers.stopAll());

/** stunnel-ts serving TLS with `protocol` for the plain backend on `backend`. */
const serving = (name: string, protocol: string, backend: number) =>
  peers.stunnelTs(name, `[${protocol}]\nprotocol = ${protocol}\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${backend}\ncert = ${p.serverCert}\nkey = ${p.serverKey}\n`);

/** A small SMTP server (plain): enough of RFC 5321 for one mail; resolves each message it takes. */
async function mailServer(): Promise<{ port: number; messages: string[]; next: () => Promise<string> }> {
  const messages: string[] = [];
  let waiting: ((message: string) => void) | null = null;
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.write('220 mx.test ESMTP ready\r\n');
    let buffered = '';
    let body: string[] | null = null;
    s.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (let nl = buffered.indexOf('\r\n'); nl >= 0; nl = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (body) {
          if (line !== '.') { body.push(line); continue; }
          const message = body.join('\n');
          body = null;
          messages.push(message);
          waiting?.(message);
          s.write('250 2.0.0 queued\r\n');
        } else if (/^EHLO /i.test(line)) s.write('250-mx.test\r\n250 8BITMIME\r\n');
        else if (/^(MAIL|RCPT) /i.test(line)) s.write('250 2.1.0 ok\r\n');
        else if (/^DATA$/i.test(line)) { body = []; s.write('354 go ahead\r\n'); }
        else if (/^QUIT$/i.test(line)) s.end('221 2.0.0 bye\r\n');
        else s.write('502 5.5.2 what\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => server.close());
  const next = () => new Promise<string>((resolve) => { waiting = resolve; });
  return { port: (server.address() as { port: number }).port, messages, next };
}

/**
 * `openssl s_client -starttls PROTOCOL` against `port`: once TLS is up, sends `command` and
 * waits for `answer` in what comes back through the tunnel.
 */
async function starttlsSession(port: number, protocol: string, command: string, answer: string): Promise<{ answered: boolean; out: string }> {
  const child = spawn(peerPath('openssl'), ['s_client', '-connect', `127.0.0.1:${port}`, '-starttls', protocol, '-quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', () => undefined);
  child.stdin.write(`${command}\r\n`);
  const answered = await new Promise<boolean>((resolve) => {
    const backstop = setTimeout(() => resolve(false), 10_000); // backstop
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes(answer)) {
        clearTimeout(backstop);
        resolve(true);
      }
    });
  });
  child.kill();
  return { answered, out };
}

describe('smtp', () => {
  test('curl sends a mail with STARTTLS (--ssl-reqd): the backend gets it whole, the dialogue is stunnel\'s', { skip: skipWithout('curl') }, async () => {
    const mx = await mailServer();
    const { daemon, port } = await serving('smtp-curl', 'smtp', mx.port);
    const mail = join(peers.dir, 'mail.txt');
    const body = ['Subject: through stunnel-ts', '', ...Array.from({ length: 200 }, (_, i) => `line ${i} of the body`)];
    writeFileSync(mail, body.join('\r\n') + '\r\n');
    const delivered = mx.next();
    const curl = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(peerPath('curl'), ['-sS', '--ssl-reqd', '--cacert', p.caFile, '--resolve', `localhost:${port}:127.0.0.1`,
        `smtp://localhost:${port}`, '--mail-from', 'a@test', '--mail-rcpt', 'b@test', '-T', mail],
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }));
    });
    assert.equal(curl.code, 0, curl.stderr);
    assert.equal(await delivered, body.join('\n'));
    const dialogue = daemon.lines.filter((l) => /LOG7\[\d+\]: {2}(<-|->) /.test(l)).map((l) => l.replace(/^.*LOG7\[\d+\]: /, ''));
    assert.deepEqual(dialogue.slice(0, 2), [' <- 220 mx.test ESMTP ready', ' -> 220 mx.test stunnel for ESMTP ready']);
    assert.match(dialogue[2], /^ <- EHLO /);
    assert.deepEqual(dialogue.slice(3), [' -> 250-mx.test', ' -> 250 STARTTLS', ' <- STARTTLS', ' -> 220 Go ahead']);
    assert.ok(daemon.lines.some((l) => /LOG6\[\d+\]: TLS accepted: new session negotiated$/.test(l)));
  });

  test('stunnel 5.68 in client mode (protocol = smtp) in front: 256 KiB through both, intact', { skip: skipWithout('stunnel4') }, async () => {
    const backend = await peers.greetingBackend('smtp');
    const ours = await serving('smtp-interop', 'smtp', backend);
    const theirs = peers.stunnel4('smtp-client.conf', `[smtp]\nclient = yes\nprotocol = smtp\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${ours.port}`);
    await theirs.waitFor(/Configuration successful/);
    const r = await greetedExchange(await theirs.port(), 1, 256 * 1024);
    assert.deepEqual(r.greeting, ['220 backend.example stunnel for ESMTP']);
    assert.equal(r.received, r.sent);
    await ours.daemon.waitFor(/LOG5\[\d+\]: Connection closed: 262144 byte\(s\) sent to TLS, 262144 byte\(s\) sent to socket$/);
  });
});

describe('pop3', () => {
  test('openssl s_client -starttls pop3: CAPA lists STLS, then bytes go through TLS to the backend', { skip: skipWithout('openssl') }, async () => {
    const backend = await peers.greetingBackend('pop3');
    const { daemon, port } = await serving('pop3-openssl', 'pop3', backend);
    const session = await starttlsSession(port, 'pop3', 'LIST', 'LIST');
    assert.ok(session.answered, session.out);
    const dialogue = daemon.lines.filter((l) => /LOG7\[\d+\]: {2}(<-|->) /.test(l)).map((l) => l.replace(/^.*LOG7\[\d+\]: /, ''));
    assert.deepEqual(dialogue.slice(0, 2), [` <- ${GREETINGS.pop3}`, ` -> ${GREETINGS.pop3} + stunnel`]);
    assert.ok(dialogue.includes(' -> +OK Stunnel starts TLS negotiation'), dialogue.join('\n'));
  });
});

/** An IMAP backend: a greeting with capabilities, CAPABILITY answered, any other command acknowledged. */
const imapBackend = () => peers.scriptedServer('* OK [CAPABILITY IMAP4rev1] backend ready\r\n', (line) => {
  const [tag, command] = line.split(' ');
  if (/^CAPABILITY$/i.test(command)) return `* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK CAPABILITY completed\r\n`;
  if (/^LOGOUT$/i.test(command)) return `* BYE\r\n${tag} OK bye\r\n`;
  return `${tag} OK ${command} done\r\n`;
});

describe('imap', () => {
  test('openssl s_client -starttls imap: CAPABILITY gains STARTTLS, then commands reach the backend through TLS', { skip: skipWithout('openssl') }, async () => {
    const { daemon, port } = await serving('imap-openssl', 'imap', await imapBackend());
    const session = await starttlsSession(port, 'imap', 'a5 NOOP', 'a5 OK NOOP done');
    assert.ok(session.answered, session.out);
    const dialogue = daemon.lines.filter((l) => /LOG7\[\d+\]: {2}(<-|->) /.test(l)).map((l) => l.replace(/^.*LOG7\[\d+\]: /, ''));
    assert.deepEqual(dialogue, [
      ' <- * OK [CAPABILITY IMAP4rev1] backend ready', ' -> * OK [KAPABILITY IMAP4rev1] backend ready (stunnel)',
      ' <- . CAPABILITY', ' -> . CAPABILITY', ' <- * CAPABILITY IMAP4rev1 AUTH=PLAIN', ' -> * CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS',
      ' <- . OK CAPABILITY completed', ' -> . OK CAPABILITY completed', ' <- . STARTTLS', ' -> . OK Begin TLS negotiation now',
    ]);
  });

  test('stunnel 5.68 in client mode (protocol = imap) in front: 256 KiB through both, intact', { skip: skipWithout('stunnel4') }, async () => {
    const ours = await serving('imap-interop', 'imap', await peers.greetingBackend('imap'));
    const theirs = peers.stunnel4('imap-client.conf', `[imap]\nclient = yes\nprotocol = imap\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:${ours.port}`);
    await theirs.waitFor(/Configuration successful/);
    const r = await greetedExchange(await theirs.port(), 1, 256 * 1024);
    assert.deepEqual(r.greeting, ['* OK Connected.']);
    assert.equal(r.received, r.sent);
  });

  test('any other command before STARTTLS: BYE and BAD to the client, the backend logged out, Connection closed', async () => {
    const { daemon, port } = await serving('imap-refused', 'imap', await imapBackend());
    const client = connect(port, '127.0.0.1');
    let got = '';
    client.on('data', (c) => {
      if (got === '') client.write('a1 NOOP\r\n');
      got += c.toString();
    });
    const closed = new Promise((resolve) => client.on('close', resolve));
    const id = (await daemon.waitFor(/LOG3\[(\d+)\]: Unexpected client command NOOP$/))[1];
    await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection closed: 0 byte\\(s\\) sent to TLS, 0 byte\\(s\\) sent to socket$`));
    await closed;
    assert.equal(got, '* OK [KAPABILITY IMAP4rev1] backend ready (stunnel)\r\n* BYE stunnel: unexpected command\r\na1 BAD NOOP unexpected\r\n');
    assert.ok(daemon.lines.some((l) => new RegExp(`LOG7\\[${id}\\]:  -> stunnel LOGOUT$`).test(l)));
  });
});

describe('pgsql', () => {
  test('openssl s_client -starttls postgres: the SSLRequest answered S, then bytes reach the backend through TLS', { skip: skipWithout('openssl') }, async () => {
    const backend = await peers.scriptedServer('', (line) => `echo:${line}\n`);
    const { daemon, port } = await serving('pgsql-openssl', 'pgsql', backend);
    const session = await starttlsSession(port, 'postgres', 'SELECT 1', 'echo:SELECT 1');
    assert.ok(session.answered, session.out);
    const lines = daemon.lines.map((l) => l.replace(/^.*(LOG\d)\[\d+\]: /, '$1 '));
    const order = ['LOG7 Started server-side psql protocol negotiation', 'LOG7 SSLRequest received', 'LOG6 TLS accepted: new session negotiated']
      .map((text) => lines.indexOf(text));
    assert.ok(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1])), lines.join('\n'));
  });

  test('a client that sends anything else first: `PostgreSQL client did not request TLS, rejecting`, Connection reset', async () => {
    const { daemon, port } = await serving('pgsql-refused', 'pgsql', await peers.greetingBackend('smtp'));
    const client = connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    const closed = new Promise((resolve) => client.on('close', resolve));
    client.write('GET / HTTP/1.1\r\n');
    const id = (await daemon.waitFor(/LOG3\[(\d+)\]: PostgreSQL client did not request TLS, rejecting$/))[1];
    await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection reset: 0 byte\\(s\\) sent to TLS, 0 byte\\(s\\) sent to socket$`));
    await closed;
  });
});

describe('a client that will not start TLS costs its connection, with stunnel\'s line', () => {
  const cases: Array<[string, string, string | null, string[], string]> = [
    ['smtp: HELO instead of EHLO', 'smtp', null, ['HELO me'], 'Unknown client EHLO'],
    ['smtp: MAIL before STARTTLS', 'smtp', null, ['EHLO me', 'MAIL FROM:<a@b>'], 'STARTTLS expected'],
    ['smtp: a backend that does not greet with 220', 'smtp', '554 no service\r\n', [], 'Unknown server welcome'],
    ['pop3: USER before STLS', 'pop3', null, ['CAPA', 'USER me'], 'Client does not want TLS'],
  ];
  for (const [name, protocol, greeting, commands, line] of cases) {
    test(`${name}: \`${line}\` at LOG3, Connection reset`, async () => {
      const backend = greeting === null ? await peers.greetingBackend(protocol) : await peers.scriptedServer(greeting, () => 'silent');
      const { daemon, port } = await serving(name.replace(/\W+/g, '-'), protocol, backend);
      const client = connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      const closed = new Promise((resolve) => client.on('close', resolve));
      // One command per line the daemon writes back, as a client waits for each reply.
      let sent = 0;
      client.on('data', () => { if (sent < commands.length) client.write(`${commands[sent++]}\r\n`); });
      const id = (await daemon.waitFor(new RegExp(`LOG3\\[(\\d+)\\]: ${line}$`)))[1];
      await daemon.waitFor(new RegExp(`LOG5\\[${id}\\]: Connection reset: 0 byte\\(s\\) sent to TLS, 0 byte\\(s\\) sent to socket$`));
      await closed;
      assert.equal(daemon.child.exitCode, null);
    });
  }
});
