/**
 * Loads one weights path in a fresh process, as `diffusion import` and `sample` would (the load,
 * the schedule, the metadata as JSON), and prints one JSON line: {ok, message, ms, maxRssMB}.
 * Imports the loaders from the current directory's checkout, so the same script can measure an
 * older commit for comparison: `cd OLD && node --import tsx /path/to/run-case.ts FILE`.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const file = process.argv[2]!;
const root = process.cwd();
const { loadWeightsPath } = await import(pathToFileURL(path.join(root, 'src/cli/weights-files.ts')).href);
const { makeSchedule } = await import(pathToFileURL(path.join(root, 'src/core/schedule.ts')).href);
const base = process.memoryUsage().rss;
const t0 = performance.now();
let ok = true;
let message = '';
try {
  const w = loadWeightsPath(file);
  makeSchedule(w.meta.schedule);
  JSON.stringify(w.meta);
  message = `loaded (width ${w.config.width}, T ${w.meta.schedule.T}, prediction ${w.meta.prediction})`;
} catch (e) {
  ok = false;
  message = `${(e as Error).name}: ${(e as Error).message}`;
}
const ms = performance.now() - t0;
const maxRssMB = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify({ ok, message, ms, maxRssMB, baseRssMB: base / 2 ** 20 }));
