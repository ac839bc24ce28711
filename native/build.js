#!/usr/bin/env node
'use strict';
// Builds the native addon (build/Release/stunnel_ts.node) at `npm install` with the node-gyp that
// npm bundles, against the headers installed beside this Node binary (no download).
// A failed build does not fail the install: stunnel-ts then runs without it and refuses the options
// that need it (`chroot`, socket options Node has no API for) with a message naming the option.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join, resolve, dirname } = require('node:path');

const root = resolve(__dirname, '..');
const nodeDir = resolve(dirname(process.execPath), '..');
const localHeaders = existsSync(join(nodeDir, 'include', 'node', 'node_api.h'));

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((file) => file && existsSync(file)) ?? null;
}

const nodeGyp = findNodeGyp();
if (nodeGyp === null) {
  console.warn('stunnel-ts: node-gyp not found; the native addon is not built (chroot will be unavailable)');
  process.exit(0);
}
const args = [nodeGyp, 'rebuild', ...(localHeaders ? [`--nodedir=${nodeDir}`] : [])];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.warn('stunnel-ts: building the native addon failed; chroot and native socket options will be unavailable');
}
