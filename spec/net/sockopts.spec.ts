/**
 * @module spec/net/sockopts
 * Every socket option is set on real sockets and read back with getsockopt(2).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import type { SocketOption } from '../../lib/config/model';
import { DEFAULT_SOCKET_OPTIONS, SOCKET_OPTIONS, parseSocketOption } from '../../lib/config/values';
import { applySocketOptions, listenOptions, readSocketOption } from '../../lib/net/sockopts';
import { nativeAddon } from '../../lib/native';

const opt = (target: SocketOption['target'], name: string, value: SocketOption['value']): SocketOption => ({ target, name, value });

describe('socket options', { skip: nativeAddon() === null && 'addon not built' }, () => {
  let server: net.Server;
  let accepted: net.Socket;
  let client: net.Socket;

  before(async () => {
    server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const connection = once(server, 'connection');
    client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    [accepted] = await connection as [net.Socket];
  });
  after(() => {
    client.destroy();
    accepted.destroy();
    server.close();
  });

  test('accepted sockets get stunnel\'s TCP_NODELAY default and every l: option', () => {
    applySocketOptions(accepted, 'l', [
      ...DEFAULT_SOCKET_OPTIONS, opt('l', 'SO_KEEPALIVE', 1), opt('l', 'TCP_KEEPIDLE', 77), opt('l', 'TCP_KEEPINTVL', 11), opt('l', 'TCP_KEEPCNT', 4),
      opt('l', 'SO_LINGER', [1, 9]), opt('l', 'SO_OOBINLINE', 1), opt('l', 'SO_RCVBUF', 65536), opt('l', 'SO_SNDBUF', 32768),
      opt('l', 'SO_RCVTIMEO', [3, 500000]), opt('l', 'IP_TOS', 0x10), opt('l', 'IP_TTL', 33),
      opt('l', 'SO_BINDTODEVICE', 'lo'), opt('r', 'IP_TTL', 99),
    ]);
    assert.equal(readSocketOption(accepted, 'TCP_NODELAY'), 1);
    assert.equal(readSocketOption(accepted, 'SO_KEEPALIVE'), 1);
    assert.equal(readSocketOption(accepted, 'TCP_KEEPIDLE'), 77);
    assert.equal(readSocketOption(accepted, 'TCP_KEEPINTVL'), 11);
    assert.equal(readSocketOption(accepted, 'TCP_KEEPCNT'), 4);
    assert.deepEqual(readSocketOption(accepted, 'SO_LINGER'), [1, 9]);
    assert.equal(readSocketOption(accepted, 'SO_OOBINLINE'), 1);
    assert.equal(readSocketOption(accepted, 'SO_RCVBUF'), 131072); // Linux doubles the request
    assert.equal(readSocketOption(accepted, 'SO_SNDBUF'), 65536);
    assert.deepEqual(readSocketOption(accepted, 'SO_RCVTIMEO'), [3, 500000]); // kernel keeps it in jiffies
    assert.equal(readSocketOption(accepted, 'IP_TOS'), 0x10);
    assert.equal(readSocketOption(accepted, 'IP_TTL'), 33);
    assert.equal(readSocketOption(accepted, 'SO_BINDTODEVICE'), 'lo');
  });

  test('options for another target are left alone; r: options reach the remote socket', () => {
    applySocketOptions(client, 'r', [opt('l', 'IP_TTL', 5), opt('r', 'IP_TTL', 99), opt('r', 'TCP_NODELAY', 0)]);
    assert.equal(readSocketOption(client, 'IP_TTL'), 99);
    assert.equal(readSocketOption(client, 'TCP_NODELAY'), 0);
  });

  test('a: options go on the listening socket', () => {
    applySocketOptions(server, 'a', [opt('a', 'SO_KEEPALIVE', 1), opt('a', 'SO_REUSEADDR', 1)]);
    assert.equal(readSocketOption(server, 'SO_KEEPALIVE'), 1);
    assert.equal(readSocketOption(server, 'SO_REUSEADDR'), 1);
  });

  test('a refused option throws setsockopt NAME: text (errno)', () => {
    assert.throws(() => applySocketOptions(accepted, 'l', [opt('l', 'SO_BINDTODEVICE', 'no-such-if0')]),
      { message: 'setsockopt SO_BINDTODEVICE: No such device (19)' });
  });

  test('IPV6_V6ONLY on a: becomes the ipv6Only listen option', async () => {
    const options = [opt('a', 'IPV6_V6ONLY', 1)];
    assert.deepEqual(listenOptions(options), { ipv6Only: true });
    const v6 = net.createServer().listen({ port: 0, host: '::', ...listenOptions(options) });
    await once(v6, 'listening');
    try {
      applySocketOptions(v6, 'a', options);
      assert.equal(readSocketOption(v6, 'IPV6_V6ONLY'), 1);
    } finally {
      v6.close();
    }
  });
});

test('the setter knows exactly the options the parser accepts (one table: config/values)', () => {
  for (const row of SOCKET_OPTIONS) assert.doesNotThrow(() => parseSocketOption(`l:${row.name}=${row.kind === 'string' ? 'lo' : row.kind === 'linger' || row.kind === 'timeval' ? '1:0' : '1'}`));
  assert.throws(() => parseSocketOption('l:TCP_MAXSEG=1200'), { message: 'Illegal socket option' });
});
