/**
 * @module demo
 * `npm start`: a working TLS tunnel with no setup. Makes a self-signed certificate
 * and a config in ./demo/ on first run, starts a tiny HTTP backend on 127.0.0.1:8080,
 * runs bin/stunnel-ts in front of it on 127.0.0.1:8443, and stops both on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { issueCertificate } from './certs/selfsigned';

const DEMO_DIR = resolve('demo');
const BACKEND_PORT = 8080;
const TUNNEL_PORT = 8443;
const BIN = resolve(__dirname, '../../bin/stunnel-ts');

const CONFIG = `; stunnel-ts demo configuration (written by \`npm start\`; edit freely).
; It shows a TLS server tunnel: TLS clients connect to 127.0.0.1:${TUNNEL_PORT}, stunnel-ts
; decrypts and passes the plain bytes to the HTTP backend on 127.0.0.1:${BACKEND_PORT}.

; Stay in the foreground and log to the terminal, including each connection's steps.
foreground = yes
debug = info

[demo-https]
; The self-signed certificate and its private key, made on first run.
cert = cert.pem
key = key.pem
; Where TLS clients connect, and where the decrypted stream goes.
accept = 127.0.0.1:${TUNNEL_PORT}
connect = 127.0.0.1:${BACKEND_PORT}
`;

/** Writes demo/cert.pem, demo/key.pem and demo/stunnel.conf unless they exist. */
export function prepareDemo(dir = DEMO_DIR): string {
  mkdirSync(dir, { recursive: true });
  const confFile = join(dir, 'stunnel.conf');
  if (!existsSync(join(dir, 'cert.pem')) || !existsSync(join(dir, 'key.pem'))) {
    const issued = issueCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 365 });
    writeFileSync(join(dir, 'cert.pem'), issued.certPem, { mode: 0o644 });
    writeFileSync(join(dir, 'key.pem'), issued.keyPem, { mode: 0o600 });
  }
  if (!existsSync(confFile)) writeFileSync(confFile, CONFIG);
  return confFile;
}

function main(): void {
  const confFile = prepareDemo();
  const backend = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('Hello through stunnel-ts\n');
  });
  backend.listen(BACKEND_PORT, '127.0.0.1', () => {
    // Relative paths in the config (cert.pem, key.pem) resolve against the demo directory.
    const tunnel = spawn(process.execPath, [BIN, confFile], { cwd: DEMO_DIR, stdio: 'inherit' });
    process.stdout.write(`\nDemo backend on http://127.0.0.1:${BACKEND_PORT}/, TLS tunnel on 127.0.0.1:${TUNNEL_PORT}.\n` +
      `Try it:  curl -k https://127.0.0.1:${TUNNEL_PORT}/\nStop with Ctrl-C.\n\n`);
    const stop = () => {
      if (tunnel.exitCode === null && tunnel.signalCode === null) tunnel.kill('SIGTERM');
      backend.close();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    tunnel.on('exit', (code) => {
      backend.close();
      process.exitCode = code ?? 0;
    });
  });
  backend.on('error', (err) => {
    process.stderr.write(`Cannot start the demo backend on 127.0.0.1:${BACKEND_PORT}: ${err.message}\n`);
    process.exitCode = 1;
  });
}

if (require.main === module) main();
