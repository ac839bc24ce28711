/**
 * @module spec/helpers/corpus
 * Where the real-world stunnel.conf corpus is: `../shared/conf-corpus` beside the checkout
 * (as CI lays it out), else the workplace's /work/shared copy.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const besideCheckout = resolve(__dirname, '../../../../shared/conf-corpus');
export const CORPUS_ROOT = existsSync(besideCheckout) ? besideCheckout : '/work/shared/conf-corpus';
export const CORPUS_FILES = join(CORPUS_ROOT, 'files');
