/**
 * @module spec/process/signals
 * The texts signals log (the e2e signal specs check them on a running daemon).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logActiveConnections, terminationLine } from '../../lib/process/signals';

test('TERM logs Terminated at LOG5; INT and QUIT log at LOG3', () => {
  assert.deepEqual(terminationLine('SIGTERM'), { level: 5, text: 'Terminated' });
  assert.deepEqual(terminationLine('SIGINT'), { level: 3, text: 'Received SIGINT; terminating' });
  assert.deepEqual(terminationLine('SIGQUIT'), { level: 3, text: 'Received SIGQUIT; terminating' });
});

test('USR2 lists connections at LOG0', () => {
  const lines: string[] = [];
  logActiveConnections({ write: (level, id, text) => lines.push(`${level}[${id}] ${text}`) },
    [{ service: 'tls-in', id: '0', sentToTls: 6, sentToSocket: 7 }]);
  assert.deepEqual(lines, [
    '0[ui] Active connections:',
    '0[ui] Active connection 1: Service [tls-in], 6 byte(s) sent to TLS, 7 byte(s) sent to socket',
    '0[ui] Listed 1 active connection(s)',
  ]);
});
