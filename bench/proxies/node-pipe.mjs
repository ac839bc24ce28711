/**
 * @module bench/proxies/node-pipe
 * The baseline: the least a Node TLS→TCP proxy can be. TLS in, plain TCP out, stream.pipe both
 * ways, nothing else (no logging, no timeouts). Usage:
 *   node node-pipe.mjs ACCEPT_PORT CONNECT_PORT CERT KEY [WORKERS]
 */
import tls from 'node:tls';
import net from 'node:net';
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';

const [acceptPort, connectPort, certFile, keyFile, workers = '1'] = process.argv.slice(2);
process.on('SIGTERM', () => process.exit(0)); // a normal exit, so --cpu-prof writes its profile

if (cluster.isPrimary && Number(workers) > 1) {
  for (let i = 0; i < Number(workers); i++) cluster.fork();
} else {
  const options = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  tls.createServer(options, (client) => {
    const backend = net.connect(Number(connectPort), '127.0.0.1');
    const close = () => { client.destroy(); backend.destroy(); };
    client.on('error', close).on('close', close);
    backend.on('error', close).on('close', close);
    client.pipe(backend).pipe(client);
  }).listen(Number(acceptPort), '127.0.0.1');
}
