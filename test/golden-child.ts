/**
 * Child process of test/wasm-threads.test.ts: regenerates the small model's golden samples on
 * Node wasm with the thread count given as argv[2] (through the CLI's initNodeBackend), and prints
 * one JSON line: threads in use, sha256 of the samples, and the comparison with the golden.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { initNodeBackend } from '../src/cli/tf-node.ts';
import { wasmThreadsInUse } from '../src/cli/wasm-threads.ts';
import { compareWithGolden, GOLDENS, type GoldenFile } from '../src/core/golden.ts';
import { FIXTURES, regenerateGolden } from './helpers.ts';

await initNodeBackend('wasm', Number(process.argv[2]));
const golden = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'golden', GOLDENS.small.file), 'utf8')) as GoldenFile;
const x = await regenerateGolden(golden.settings);
const cmp = compareWithGolden(x, golden);
console.log(JSON.stringify({ threads: wasmThreadsInUse(), sha256: createHash('sha256').update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)).digest('hex'), maxAbs: cmp.maxAbs, ok: cmp.ok }));
