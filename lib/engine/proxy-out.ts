/**
 * @module engine/proxy-out
 * What `proxyVersion = 2` tells the backend about the TLS side of a server-mode tunnel,
 * read from its finished TLSSocket: ALPN, the SNI name, version, cipher, and the client
 * certificate (presented, verified, its CN). The header itself is built in engine/proxy-header.
 */
import type { TLSSocket } from 'node:tls';
import type { TlsConfig } from '../config/model';
import type { TlsFacts } from './proxy-header';

/** The TLS facts of an established server-side connection. */
export function tlsFacts(tls: TLSSocket, config: TlsConfig): TlsFacts {
  const cert = tls.getPeerX509Certificate();
  const servername = (tls as TLSSocket & { servername?: string | false }).servername;
  // A tunnel relays only after judgePeer accepted the certificate when one is verified.
  const verifying = config.verify.chain || config.verify.peer;
  return {
    alpn: typeof tls.alpnProtocol === 'string' ? tls.alpnProtocol : null,
    servername: typeof servername === 'string' && servername !== '' ? servername : null,
    version: tls.getProtocol(),
    cipher: tls.getCipher()?.name ?? null,
    certConnection: cert !== undefined && !tls.isSessionReused(),
    certSession: cert !== undefined,
    verified: cert !== undefined && verifying,
    commonName: cert ? commonName(cert.subject) : null,
  };
}

/** The CN of a subject as X509Certificate prints it (`C=..\nCN=name\n...`). */
function commonName(subject: string): string | null {
  const line = subject.split('\n').find((l) => l.startsWith('CN='));
  return line ? line.slice(3) : null;
}
