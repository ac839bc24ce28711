/**
 * @module tls/ocsp-fetch
 * One OCSP request over HTTP POST, as stunnel sends it: connect under TIMEOUTconnect, then
 * the whole exchange under TIMEOUTbusy; a response larger than MAX_RESPONSE is refused.
 * Writes stunnel's connect and transport lines; resolves to the response's DER, or null
 * after a line saying why (the certificate is then rejected).
 *
 *   parse URL ─▶ resolve ─▶ connect (TIMEOUTconnect) ─▶ POST ─▶ 200 + body (TIMEOUTbusy) ─▶ DER
 */
import { lookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Speaker } from './verify';
import { errnoText } from '../errno';

/** A response is a few KB; OpenSSL's HTTP client (stunnel's) takes at most 100 KiB. */
export const MAX_RESPONSE = 100 * 1024;

const HTTP_ERROR = 'error:1E800069:HTTP routines::received error';
const TOO_LONG = 'error:1E800075:HTTP routines::max resp len exceeded';

export interface FetchLimits {
  /** Seconds: TIMEOUTconnect and TIMEOUTbusy of the service. */
  readonly connect: number;
  readonly busy: number;
  readonly signal: AbortSignal;
}

/** `http://host[:port][/path]` as OCSP_parse_url takes it. */
function parseUrl(url: string, log: Speaker): { host: string; port: number; path: string } | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    parsed = new URL('invalid:');
  }
  if (parsed.protocol === 'https:') {
    log.say(3, 'OCSP: SSL not supported for OCSP - an additional stunnel service needs to be defined');
    return null;
  }
  if (parsed.protocol !== 'http:' || parsed.hostname === '') {
    log.say(3, 'OCSP: Failed to parse the OCSP URL');
    return null;
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: parsed.port ? Number(parsed.port) : 80, path: `${parsed.pathname}${parsed.search}` || '/' };
}

function hostPort(host: string, port: number): string {
  return `${host}:${port}`;
}

/** Connects under TIMEOUTconnect with s_connect's lines. */
function dial(address: string, port: number, limits: FetchLimits, log: Speaker): Promise<Socket | null> {
  const text = hostPort(address, port);
  if (log.wants(6)) log.say(6, `s_connect: connecting ${text}`);
  return new Promise((resolve) => {
    const socket = netConnect({ host: address, port });
    const finish = (ok: boolean, line?: () => void) => {
      clearTimeout(timer);
      limits.signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('connect');
      if (!ok) {
        line?.();
        socket.destroy();
      }
      resolve(ok ? socket : null);
    };
    const onAbort = () => finish(false);
    const timer = setTimeout(() => finish(false, () => log.say(3, `s_connect: s_poll_wait ${text}: TIMEOUTconnect exceeded`)), limits.connect * 1000);
    limits.signal.addEventListener('abort', onAbort);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      log.say(5, `s_connect: connected ${text}`);
      finish(true);
    });
    socket.once('error', (err) => finish(false, () => log.say(3, `s_connect: connect ${text}: ${errnoText(err)}`)));
  });
}

/** POSTs `body` over a connected socket; the response body, or null after a line. */
function exchange(socket: Socket, target: { host: string; port: number; path: string }, body: Buffer, limits: FetchLimits, log: Speaker): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: Buffer | null, line?: string, level: 3 | 6 = 3) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      limits.signal.removeEventListener('abort', onAbort);
      if (line) log.say(level, line);
      request.destroy();
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => done(null);
    const timer = setTimeout(() => done(null, 'OCSP: s_poll_wait: TIMEOUTbusy exceeded', 6), limits.busy * 1000);
    limits.signal.addEventListener('abort', onAbort);
    const hostHeader = target.port === 80 ? target.host : `${target.host}:${target.port}`;
    const request = httpRequest({
      createConnection: () => socket,
      method: 'POST',
      path: target.path,
      headers: {
        Host: hostHeader, 'User-Agent': 'stunnel', 'Content-Type': 'application/ocsp-request', 'Content-Length': body.length,
      },
    });
    request.on('error', (err) => done(null, `OCSP: OCSP_sendreq_nbio: ${errnoText(err)}`));
    request.on('response', (response) => {
      if (response.statusCode !== 200) return done(null, `OCSP: OCSP_sendreq_nbio: ${HTTP_ERROR}`);
      const declared = Number(response.headers['content-length'] ?? 0);
      if (declared > MAX_RESPONSE) return done(null, `OCSP: OCSP_sendreq_nbio: ${TOO_LONG}`);
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE) return done(null, `OCSP: OCSP_sendreq_nbio: ${TOO_LONG}`);
        chunks.push(chunk);
      });
      response.on('end', () => done(Buffer.concat(chunks)));
      response.on('error', (err) => done(null, `OCSP: OCSP_sendreq_nbio: ${errnoText(err)}`));
    });
    request.end(body);
  });
}

/** One request to one responder URL. */
export async function fetchResponse(url: string, body: Buffer, limits: FetchLimits, log: Speaker): Promise<Buffer | null> {
  const target = parseUrl(url, log);
  if (!target) return null;
  let address = target.host;
  if (!isIP(address)) {
    try {
      address = (await lookup(address)).address;
    } catch {
      log.say(3, 'OCSP: Failed to resolve the OCSP responder address');
      return null;
    }
  }
  if (limits.signal.aborted) return null;
  const socket = await dial(address, target.port, limits, log);
  if (!socket) return null;
  socket.on('error', () => undefined);
  if (log.wants(7)) log.say(7, `OCSP: Connected ${hostPort(target.host, target.port)}`);
  return exchange(socket, target, body, limits, log);
}
