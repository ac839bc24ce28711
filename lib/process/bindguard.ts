/**
 * @module process/bindguard
 * The primary of `workers = N` binds, as root, the listening sockets its workers ask for
 * (node:cluster's `queryServer` request, see process/pool). A worker runs as the service user
 * and may be compromised: the primary grants only the `accept` addresses of the loaded
 * configuration, and stops a worker that asks for anything else before node:cluster binds it.
 *
 * Names in `accept` are resolved here as the worker's listen() resolves them (a request carries
 * the address, not the name). Port 0 grants "some port" on that address: the request cannot say
 * which listener asks.
 */
import type { Worker } from 'node:cluster';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Config } from '../config/model';
import { listenHost } from '../engine/address';
import { interceptClusterBinds } from '../node-internals';

/** What a worker asks to have bound: `inet:HOST:PORT` or `unix:PATH`, or what it was as text. */
export type BindKey = string;

/** The keys the configuration's `accept` addresses grant. */
export async function grantedBinds(config: Config): Promise<ReadonlySet<BindKey>> {
  const granted = new Set<BindKey>();
  for (const address of config.services.flatMap((s) => s.accept)) {
    if (address.kind === 'unix') {
      granted.add(`unix:${address.path}`);
      continue;
    }
    const host = listenHost(address);
    const hosts = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
    for (const ip of hosts) granted.add(`inet:${ip}:${address.port}`);
  }
  return granted;
}

/** The key of a bind request, or its JSON when it is not a plain TCP or Unix listen. */
function requestKey(request: Readonly<Record<string, unknown>>): BindKey {
  const { address, port, addressType, fd } = request;
  const plain = (fd === undefined || fd === null) && typeof address === 'string';
  if (plain && addressType === -1 && port === -1) return `unix:${address}`;
  if (plain && (addressType === 4 || addressType === 6) && Number.isInteger(port)) return `inet:${address}:${port as number}`;
  return JSON.stringify({ address, port, addressType, fd });
}

/**
 * Calls `refuse(key)` instead of letting node:cluster bind a request of `worker` that `granted()`
 * does not hold. node:cluster has no public hook for its bind requests: lib/node-internals holds
 * the one that is used. Throws (after killing the worker) when this Node does not offer it, so no
 * worker runs unguarded.
 */
export function guardBinds(worker: Worker, granted: () => ReadonlySet<BindKey>, refuse: (key: BindKey) => void): void {
  const hooked = interceptClusterBinds(worker, (request) => {
    const key = requestKey(request);
    if (granted().has(key)) return true;
    refuse(key);
    return false;
  });
  if (!hooked) {
    worker.process.kill('SIGKILL');
    throw new Error('node:cluster takes no internalMessage events: the binds of workers cannot be guarded');
  }
}
