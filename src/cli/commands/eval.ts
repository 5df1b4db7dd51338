/**
 * `diffusion eval`: sample quality against the CIFAR-10 test images — the patch distance
 * (ProGAN's sliced Wasserstein distance on 7×7 Laplacian-pyramid neighbourhoods, network-free)
 * and KID over the features of the project's own classifier. `--table` runs the whole
 * comparison (untrained weights, every sampler, the training images as the floor) and writes
 * docs/quality.{json,md} plus sample grids in public/figures/.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError, type Command } from '../command.ts';
import { parse, num } from '../args.ts';
import { initNodeBackend, threadsOption, backendLabel, THREADS_USAGE } from '../tf-node.ts';
import { SimpleUNet } from '../../core/model.ts';
import { makeSchedule } from '../../core/schedule.ts';
import { generate, initialNoise } from '../../core/generate.ts';
import { Rng } from '../../core/rng.ts';
import {
  resolveSampling, ETA_RANGE, GUIDANCE_RANGE, MAX_SAMPLING_STEPS, RECOMMENDED_GUIDANCE, RECOMMENDED_ROW_ID, RECOMMENDED_SAMPLING, SAMPLER_INFO, type SamplerName,
} from '../../core/sampling-defaults.ts';
import { toNHWCFloat, type CifarBatch } from '../../core/data/cifar.ts';
import { MANIFEST_FILE } from '../../core/weights/format.ts';
import type { LoadedWeights } from '../../core/weights/load-any.ts';
import { swd, SWD_DEFAULTS, type SWDOptions, type SWDResult } from '../../core/metrics/swd.ts';
import { kid, type KIDResult } from '../../core/metrics/kid.ts';
import { channelStats, quantize8, type ChannelStats } from '../../core/metrics/image-stats.ts';
import { accuracy, type CifarClassifier, type ClassifierRecord } from '../../core/metrics/classifier.ts';
import { conditionedDenoiser } from '../../core/guidance.ts';
import { CLASS_NAMES } from '../../core/data/cifar.ts';
import { DEFAULT_WEIGHTS, loadWeightsPath } from '../weights-files.ts';
import { resolveCifarDir, loadCifar } from '../data-path.ts';
import { readNpy, writeNpy, nchwToNhwc, nhwcToNchw } from '../npy.ts';
import { encodePNG, imageGrid } from '../png.ts';
import { progress } from '../progress.ts';
import { checkWritableDir, checkWritableFile } from '../fs-safe.ts';
import { DEFAULT_CLASSIFIER, loadClassifierDir } from './classifier-train.ts';


const USAGE = `Usage: diffusion eval [options]
       diffusion eval --table [options]

Scores images against the CIFAR-10 test set: SWD (sliced Wasserstein distance on 7×7 patches of
a Laplacian pyramid, ×1e3, ProGAN's patch distance; lower is better, depends on N) and KID
(unbiased MMD² with the cubic kernel over the penultimate features of the project's CIFAR-10
classifier; lower is better, about 0 for matching sets; its scale is that feature space's, not
comparable with Inception-based KID). Generated images are clipped
and rounded to 8 bits first, as a saved PNG would be.

What to score (one of):
  --weights PATH      generate from these weights (default ${DEFAULT_WEIGHTS})
  --random-init       generate from an untrained network (--width, default 0.25; --init-seed)
  --images DIR        score float32 .npy arrays in DIR ([n,3,32,32] NCHW as \`sample --out-npy\`
                      writes, or [n,32,32,3]; values in [-1, 1], or 0..255)
  --train-images      score N training images (the floor: what real images score)

Generation:
  --sampler NAME      ddim | dpmpp2m | ddpm | seed (default ${RECOMMENDED_SAMPLING.sampler})
  --steps N           sampling steps (default ${RECOMMENDED_SAMPLING.steps} for ${RECOMMENDED_SAMPLING.sampler}, else the sampler's)
  --eta X             DDIM η (default ${RECOMMENDED_SAMPLING.eta}: the page's setting)
  --n N               images to score (default 256)
  --batch B           images per forward pass (default 64)
  --seed S            seed of the starting noise (default 0)
  --guidance W        class-conditional weights: image i asks for class i mod 10, guided with
                      scale W (default ${RECOMMENDED_GUIDANCE}); the result adds the share of images the
                      classifier puts in the class asked for
  --unconditional     class-conditional weights: sample with "no class" instead
  --balanced-labels   with --images: image i was asked to be class i mod 10; adds the share the
                      classifier puts in that class

Scoring:
  --data DIR          CIFAR-10 binary folder (default: $CIFAR10_DIR, ./data, ../shared/data)
  --classifier DIR    classifier weights (default ${DEFAULT_CLASSIFIER}); --no-kid skips KID
  --kid-ref R         test images in KID's reference pool (default 2000)
  --swd-patches P     7×7 neighbourhoods per image per level (default ${SWD_DEFAULTS.patchesPerImage})
  --grid FILE.png     also write the first 64 images as a grid
  --json FILE         also write the result as JSON
  --backend NAME      wasm | cpu (default wasm)
${THREADS_USAGE}

--table: runs every row of the quality table with the weights of --weights: untrained weights
(DDIM 20), the seed's 50-step loop, DDIM 10/20/50, DDPM 1000 (with --n-ddpm images, default 32:
it costs 1000 network calls per image), DPM-Solver++ 10/20, and the training images at each N
used. For class-conditional weights every sampler row asks for balanced classes at --guidance,
and rows for other guidance scales (0 = "no class", 1, 2, 5) follow. --rows a,b,… runs only the
rows with those ids (the others keep their previous results in --out-json). Writes --out-json (default docs/quality.json), --out-md (default docs/quality.md) and
grids in --figures (default public/figures). Each row's raw samples are kept in --samples-dir
(default runs/quality-samples, NCHW .npy + settings) and reused by a later --table run with the
same weights (manifest sha256), sampler, steps, N, seed and batch, so re-scoring (e.g. with a
new classifier) costs no sampling; --fresh ignores them.`;

/** One scored set. */
export interface EvalResult {
  id: string;
  label: string;
  n: number;
  sampler?: SamplerName;
  steps?: number;
  eta?: number;
  swd: SWDResult;
  kid: KIDResult | null;
  stats: ChannelStats;
  /** Seconds spent generating (0 for stored images). */
  generateS: number;
  grid?: string;
  /** Class-conditional samples: the guidance scale, and the share the classifier puts in the class asked for. */
  guidance?: number;
  classAccuracy?: number;
}

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** sha256 of a weights folder's manifest (weights.json), the key the golden outputs use. */
export function weightsManifestSha(weightsPath: string): string | null {
  const file = fs.existsSync(weightsPath) && fs.statSync(weightsPath).isDirectory() ? path.join(weightsPath, MANIFEST_FILE) : weightsPath;
  return fs.existsSync(file) ? sha256File(file) : null;
}

export interface SampleSpec {
  sampler: SamplerName;
  steps: number;
  eta: number;
  n: number;
  batch: number;
  seed: number;
  /** Class-conditional weights: image i asks for class i mod 10 with this guidance scale; absent = no class. */
  guidance?: number;
}

/** The labels a conditional evaluation asks for: balanced, image i → class i mod 10. */
export const balancedLabels = (n: number): number[] => Array.from({ length: n }, (_, i) => i % CLASS_NAMES.length);

/**
 * n samples in batches. The starting noise of all n images is drawn at once from `seed`
 * (so deterministic samplers give the same images whatever the batch size); a stochastic
 * sampler's per-step noise comes from seed + 1 + batch index.
 */
export async function sampleBatched(model: SimpleUNet, w: Pick<LoadedWeights, 'meta'>, spec: SampleSpec, label = 'sampling'): Promise<Float32Array> {
  const schedule = makeSchedule(w.meta.schedule);
  const setting = resolveSampling({ sampler: spec.sampler, steps: spec.steps, eta: spec.eta, guidance: spec.guidance }, schedule.T);
  const noise = initialNoise(spec.seed, spec.n);
  const out = new Float32Array(spec.n * 3072);
  const batches = Math.ceil(spec.n / spec.batch);
  const bar = progress({ total: batches * spec.steps, label, unit: 'step' });
  for (let b = 0; b < batches; b++) {
    const from = b * spec.batch;
    const count = Math.min(spec.batch, spec.n - from);
    const labels = spec.guidance === undefined || !model.config.numClasses ? undefined : balancedLabels(spec.n).slice(from, from + count);
    const x = await generate(conditionedDenoiser(model, count, { labels, guidance: spec.guidance }), schedule, {
      setting, n: count, seed: spec.seed + 1 + b, prediction: w.meta.prediction,
      initNoise: noise.subarray(from * 3072, (from + count) * 3072), onStep: () => bar.tick(1, `batch ${b + 1}/${batches}`),
    });
    out.set((await x.data()) as Float32Array, from * 3072);
    x.dispose();
  }
  bar.done();
  return out;
}

/** Float32 .npy arrays from a folder (sorted by name), as NHWC in [-1, 1]. */
export function readNpyFolder(dir: string, limit = Infinity): { images: Float32Array; n: number } {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`--images: ${dir} is not a folder`);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.npy')).sort();
  if (!files.length) throw new UserError(`--images: no .npy files in ${dir}`);
  const parts: Float32Array[] = [];
  let n = 0;
  for (const f of files) {
    if (n >= limit) break;
    const a = readNpy(path.join(dir, f));
    const s = a.shape;
    const shape = s.length === 3 ? [1, ...s] : s;
    let nhwc: Float32Array;
    if (shape.length === 4 && shape[1] === 3 && shape[2] === 32 && shape[3] === 32) nhwc = nchwToNhwc(a.data, shape[0], 3, 32, 32);
    else if (shape.length === 4 && shape[1] === 32 && shape[2] === 32 && shape[3] === 3) nhwc = a.data;
    else throw new UserError(`${f}: shape [${s}] is neither [n, 3, 32, 32] nor [n, 32, 32, 3]`);
    let max = -Infinity;
    for (const v of nhwc) if (v > max) max = v;
    if (max > 2) nhwc = nhwc.map((v) => v / 127.5 - 1);
    parts.push(nhwc);
    n += shape[0];
  }
  n = Math.min(n, limit);
  const images = new Float32Array(n * 3072);
  let o = 0;
  for (const p of parts) {
    const take = Math.min(p.length, images.length - o);
    images.set(p.subarray(0, take), o);
    o += take;
  }
  return { images, n };
}

/** A fixed, seeded choice of k distinct indices in [0, n). */
export function seededIndices(n: number, k: number, seed: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p.slice(0, k);
}

/** The reference side: test images (SWD's N-image subsets, KID's feature pool), computed once. */
export class Reference {
  private swdSets = new Map<number, Float32Array>();
  private kidFeatures: Float32Array | null = null;
  readonly classifier: CifarClassifier | null;
  readonly classifierRecord: ClassifierRecord | null;

  constructor(readonly test: CifarBatch, readonly train: CifarBatch | null, classifierDir: string | null, readonly kidRef = 2000, readonly swdOpts: SWDOptions = {}) {
    if (classifierDir) {
      const c = loadClassifierDir(classifierDir);
      this.classifier = c.model;
      this.classifierRecord = c.record;
    } else {
      this.classifier = null;
      this.classifierRecord = null;
    }
  }

  /** N test images for SWD: a seeded subset, the same for every row with the same N. */
  swdReal(n: number): Float32Array {
    if (n > this.test.count) throw new UserError(`SWD needs as many test images as samples: asked ${n}, the test set has ${this.test.count}`);
    let s = this.swdSets.get(n);
    if (!s) {
      s = toNHWCFloat(this.test.images, seededIndices(this.test.count, n, 1234));
      this.swdSets.set(n, s);
    }
    return s;
  }

  /** N training images (a seeded subset): the floor a perfect generator would reach. */
  trainImages(n: number): Float32Array {
    if (!this.train) throw new Error('training images were not loaded');
    return toNHWCFloat(this.train.images, seededIndices(this.train.count, n, 4321));
  }

  async kidReal(): Promise<Float32Array | null> {
    if (!this.classifier) return null;
    if (!this.kidFeatures) {
      const r = Math.min(this.kidRef, this.test.count);
      const imgs = toNHWCFloat(this.test.images, seededIndices(this.test.count, r, 99));
      this.kidFeatures = (await this.classifier.embed(imgs, r)).features;
    }
    return this.kidFeatures;
  }

  /** Scores n NHWC images in [-1, 1] (quantised to 8 bits first). */
  /** Scores n NHWC images in [-1, 1] (quantised to 8 bits first); `labels`: the classes they were asked to be. */
  async score(images: Float32Array, n: number, seed = 0, labels?: number[]): Promise<{ swd: SWDResult; kid: KIDResult | null; stats: ChannelStats; classAccuracy?: number }> {
    const q = quantize8(images.subarray(0, n * 3072));
    const s = swd(this.swdReal(n), q, n, { ...this.swdOpts, seed });
    let k: KIDResult | null = null;
    let classAccuracy: number | undefined;
    const real = await this.kidReal();
    if (real && this.classifier) {
      const H = this.classifier.config.hidden;
      const { features: fake, logits } = await this.classifier.embed(q, n);
      k = kid(fake, n, real, real.length / H, H, { seed });
      if (labels) classAccuracy = accuracy(logits, labels);
    }
    return { swd: s, kid: k, stats: channelStats(q, 0, n), ...(classAccuracy === undefined ? {} : { classAccuracy }) };
  }

  dispose(): void {
    this.classifier?.dispose();
  }
}

function writeGrid(file: string, images: Float32Array, n: number): string {
  const count = Math.min(64, n);
  const { rgb, width, height } = imageGrid(images, count, 32, 1); // 1:1 pixels; pages upscale with image-rendering: pixelated
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, encodePNG(rgb, width, height));
  return file;
}

const f2 = (x: number) => x.toFixed(2);
/** KID: three significant digits. */
const fk = (x: number) => (Math.abs(x) >= 1e-4 ? x.toPrecision(3) : x.toExponential(1));
export function describe(r: EvalResult): string {
  const kidText = r.kid ? `KID ${fk(r.kid.kid)} ± ${fk(r.kid.std)}` : 'KID skipped';
  const cls = r.classAccuracy === undefined ? '' : `in the class asked for ${(100 * r.classAccuracy).toFixed(1)}%, `;
  return `${r.label}: N ${r.n}, SWD×1e3 ${r.swd.perLevel.map(f2).join(' / ')} (avg ${f2(r.swd.average)}), ${kidText}, ${cls}`
    + `mean ${r.stats.mean.map((v) => v.toFixed(3)).join(' ')}, std ${r.stats.std.map((v) => v.toFixed(3)).join(' ')}`;
}

interface TableRow {
  id: string;
  label: string;
  kind: 'random' | 'weights' | 'train';
  sampler?: SamplerName;
  steps?: number;
  /** DDIM's η (default 0). */
  eta?: number;
  n: number;
  /** Class-conditional weights: guidance scale with balanced labels; null = "no class". */
  guidance?: number | null;
}

/** `guidance`: the conditional model's default scale, or undefined for an unconditional model. */
export function tableRows(n: number, nDdpm: number, guidance?: number): TableRow[] {
  const rows: TableRow[] = [
    { id: 'untrained-ddim20', label: 'Untrained (random init), DDIM 20', kind: 'random', sampler: 'ddim', steps: 20, n },
    { id: 'seed-loop-50', label: "The seed's 50-step loop", kind: 'weights', sampler: 'seed', steps: 50, n },
    { id: 'ddim10', label: 'DDIM 10', kind: 'weights', sampler: 'ddim', steps: 10, n },
    { id: 'ddim20', label: 'DDIM 20', kind: 'weights', sampler: 'ddim', steps: 20, n },
    { id: 'ddim50', label: 'DDIM 50', kind: 'weights', sampler: 'ddim', steps: 50, n },
    // η = 1: DDIM's stochastic end (fresh noise each step, DDPM's variance) on the same levels.
    { id: 'ddim20-eta1', label: 'DDIM 20, η = 1', kind: 'weights', sampler: 'ddim', steps: 20, eta: 1, n },
    { id: 'ddim50-eta1', label: 'DDIM 50, η = 1', kind: 'weights', sampler: 'ddim', steps: 50, eta: 1, n },
    { id: 'ddpm1000', label: 'DDPM 1000 (ancestral)', kind: 'weights', sampler: 'ddpm', steps: 1000, n: nDdpm },
    { id: 'dpmpp2m10', label: 'DPM-Solver++(2M) 10', kind: 'weights', sampler: 'dpmpp2m', steps: 10, n },
    { id: 'dpmpp2m20', label: 'DPM-Solver++(2M) 20', kind: 'weights', sampler: 'dpmpp2m', steps: 20, n },
    { id: `train-images-${n}`, label: 'CIFAR-10 training images (floor)', kind: 'train', n },
  ];
  // The page's default sampler gets its own row when it is not one of the settings above.
  const def = RECOMMENDED_SAMPLING;
  if (!rows.some((r) => r.id === RECOMMENDED_ROW_ID)) {
    rows.splice(rows.findIndex((r) => r.id === 'ddim20-eta1'), 0,
      { id: RECOMMENDED_ROW_ID, label: `${SAMPLER_INFO[def.sampler].label} ${def.steps}, η = ${def.eta}`, kind: 'weights', sampler: def.sampler, steps: def.steps, eta: def.eta, n });
  }
  if (nDdpm !== n) rows.push({ id: `train-images-${nDdpm}`, label: `CIFAR-10 training images (floor at N ${nDdpm})`, kind: 'train', n: nDdpm });
  if (guidance === undefined) return rows;
  // A conditional model: the sampler rows above ask for balanced classes at the default w; then w itself.
  for (const r of rows) if (r.kind === 'weights') r.guidance = guidance;
  const at = rows.findIndex((r) => r.kind === 'train');
  // The guidance sweep runs on the page's default sampler.
  const defLabel = `${SAMPLER_INFO[def.sampler].label} ${def.steps}, η = ${def.eta}`;
  const sweep: TableRow[] = [null, 1, 2, 3, 5].filter((w) => w !== guidance).map((w) => ({
    id: w === null ? `${RECOMMENDED_ROW_ID}-uncond` : `${RECOMMENDED_ROW_ID}-w${w}`, label: w === null ? `${defLabel}, no class (unconditional)` : `${defLabel}, guidance ${w}`,
    kind: 'weights', sampler: def.sampler, steps: def.steps, eta: def.eta, n, guidance: w,
  }));
  rows.splice(at, 0, ...sweep);
  return rows;
}

/** `mdDir`: the folder the Markdown file goes in, so grid links resolve from there. */
export function markdownTable(doc: QualityDoc, mdDir = 'docs'): string {
  const lines = [
    `# Sample quality`,
    '',
    `Generated by \`${doc.command}\` on ${doc.date.slice(0, 10)} (${doc.hardware}; sampling ${(doc.rows.reduce((a, r) => a + r.generateS, 0) / 60).toFixed(1)} min in all, `
      + `this run ${(doc.wallTimeS / 60).toFixed(1)} min).`,
    '',
    `Weights: \`${doc.weights.path}\` (width ${doc.weights.width}, ${doc.weights.kind ?? '?'} weights, ${doc.weights.trainingSteps ?? '?'} training steps, `
      + `${doc.weights.epochs?.toFixed(2) ?? '?'} epochs; manifest sha256 \`${doc.weights.manifestSha256?.slice(0, 12) ?? '?'}…\`).`,
    '',
    `- **SWD** ×1e3: sliced Wasserstein distance between 7×7 neighbourhoods of the Laplacian pyramid (levels ${doc.swd.resolutions.join(', ')} px; `
      + `${doc.swd.patchesPerImage} per image per level, ${doc.swd.directions}×${doc.swd.repeats} random directions), ProGAN's patch distance, against `
      + `N test images. Lower is better; it shrinks as N grows, so compare rows at equal N.`,
    `- **KID**: unbiased MMD² (cubic polynomial kernel, ${doc.kid ? `${doc.kid.subsets} subsets of ≤ ${doc.kid.subsetSize}` : 'skipped'}) over the `
      + `${doc.kid?.featureDim ?? ''}-d penultimate features of the project's CIFAR-10 classifier `
      + `(test accuracy ${doc.kid ? (100 * doc.kid.classifierAccuracy).toFixed(1) : '?'}%), against ${doc.kid?.referenceImages ?? 0} test images. `
      + `Lower is better; ≈ 0 for matching sets (± is the spread over subsets). Its scale is this feature space's: not comparable with Inception-based KID in papers.`,
    `- Samples are clipped and rounded to 8 bits first. Mean/std: per channel (R, G, B) in [0, 1]; CIFAR-10 train is 0.491 0.482 0.447 / 0.245 0.243 0.261.`,
    '',
    ...(doc.rows.some((r) => r.classAccuracy !== undefined) ? [`- **In class**: the share of samples the classifier assigns to the class they were asked for (balanced over the 10 classes; chance 10%, real test images ${doc.kid ? (100 * doc.kid.classifierAccuracy).toFixed(1) : '?'}%). **w**: the guidance scale.`, ''] : []),
    '| Images | N | w | SWD 32 px | SWD 16 px | SWD avg | KID | in class | mean (R G B) | std (R G B) | sampling |',
    '|---|--:|--:|--:|--:|--:|--:|--:|---|---|--:|',
  ];
  for (const r of doc.rows) {
    const k = r.kid ? `${fk(r.kid.kid)} ± ${fk(r.kid.std)}` : '–';
    const grid = r.grid ? ` ([grid](${path.relative(mdDir, r.grid).split(path.sep).join('/')}))` : '';
    const w = r.guidance === undefined ? '–' : String(r.guidance);
    const cls = r.classAccuracy === undefined ? '–' : `${(100 * r.classAccuracy).toFixed(1)}%`;
    lines.push(`| ${r.label}${grid} | ${r.n} | ${w} | ${r.swd.perLevel.map(f2).join(' | ')} | **${f2(r.swd.average)}** | ${k} | ${cls} | `
      + `${r.stats.mean.map((v) => v.toFixed(3)).join(' ')} | ${r.stats.std.map((v) => v.toFixed(3)).join(' ')} | ${r.generateS ? `${Math.round(r.generateS)} s` : '–'} |`);
  }
  if (doc.notes.length) lines.push('', ...doc.notes.map((s) => `- ${s}`));
  return lines.join('\n') + '\n';
}

export interface QualityDoc {
  command: string;
  date: string;
  hardware: string;
  backend: string;
  wallTimeS: number;
  seed: number;
  weights: { path: string; manifestSha256: string | null; width: number; kind?: string; trainingSteps?: number; epochs?: number; numClasses?: number };
  swd: Required<Omit<SWDOptions, 'seed'>> & { resolutions: number[] };
  kid: { subsets: number; subsetSize: number; referenceImages: number; featureDim: number; classifier: string; classifierAccuracy: number } | null;
  rows: EvalResult[];
  notes: string[];
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Score samples against CIFAR-10 test images (SWD patch distance, KID); --table for the whole comparison',
  usage: USAGE,
  async run(args) {
    const { values: v } = parse(args, {
      weights: { type: 'string', default: DEFAULT_WEIGHTS }, 'random-init': { type: 'boolean' }, width: { type: 'string', default: '0.25' },
      'init-seed': { type: 'string', default: '0' }, images: { type: 'string' }, 'train-images': { type: 'boolean' },
      sampler: { type: 'string', default: RECOMMENDED_SAMPLING.sampler }, steps: { type: 'string' }, eta: { type: 'string' },
      n: { type: 'string', default: '256' }, batch: { type: 'string', default: '64' }, seed: { type: 'string', default: '0' },
      data: { type: 'string' }, classifier: { type: 'string', default: DEFAULT_CLASSIFIER }, 'no-kid': { type: 'boolean' },
      'kid-ref': { type: 'string', default: '2000' }, 'swd-patches': { type: 'string', default: String(SWD_DEFAULTS.patchesPerImage) },
      grid: { type: 'string' }, json: { type: 'string' }, backend: { type: 'string', default: 'wasm' }, threads: { type: 'string' },
      table: { type: 'boolean' }, 'n-ddpm': { type: 'string', default: '32' }, 'out-json': { type: 'string', default: 'docs/quality.json' },
      'out-md': { type: 'string', default: 'docs/quality.md' }, figures: { type: 'string', default: 'public/figures' },
      'samples-dir': { type: 'string', default: 'runs/quality-samples' }, fresh: { type: 'boolean' },
      guidance: { type: 'string' }, unconditional: { type: 'boolean' }, rows: { type: 'string' }, 'balanced-labels': { type: 'boolean' },
    }, USAGE);
    const guidanceArg = v.guidance === undefined ? RECOMMENDED_GUIDANCE : num(v.guidance, 'guidance', GUIDANCE_RANGE);
    // Every argument before any work: an unusable output path must not cost a whole evaluation.
    if (!Object.hasOwn(SAMPLER_INFO, v.sampler!)) throw new UserError(`--sampler must be one of ${Object.keys(SAMPLER_INFO).join(', ')}, got '${v.sampler}'`);
    const stepsArg = v.steps === undefined ? undefined : num(v.steps, 'steps', { int: true, min: 1, max: MAX_SAMPLING_STEPS });
    const etaArg = v.eta === undefined ? undefined : num(v.eta, 'eta', ETA_RANGE);
    num(v['n-ddpm'], 'n-ddpm', { int: true, min: 2 });
    const threads = threadsOption(v.threads);
    for (const [flag, file] of [['--grid', v.grid], ['--json', v.json]] as const) if (file) checkWritableFile(file, flag);
    if (v.table) {
      checkWritableFile(v['out-json']!, '--out-json');
      checkWritableFile(v['out-md']!, '--out-md');
      checkWritableDir(v.figures!, `--figures ${v.figures}`);
      checkWritableDir(v['samples-dir']!, `--samples-dir ${v['samples-dir']}`);
    }
    const started = performance.now();
    const n = num(v.n, 'n', { int: true, min: 2, max: 10000 });
    const batch = num(v.batch, 'batch', { int: true, min: 1, max: 1024 });
    const seed = num(v.seed, 'seed', { int: true, min: 0 });
    const swdOpts: SWDOptions = { patchesPerImage: num(v['swd-patches'], 'swd-patches', { int: true, min: 1 }) };
    const backend = await initNodeBackend(v.backend, threads);
    const dataDir = resolveCifarDir(v.data);
    const test = loadCifar(dataDir, 'test');
    const needTrain = v.table || v['train-images'];
    const train = needTrain ? loadCifar(dataDir, 'train') : null;
    const ref = new Reference(test, train, v['no-kid'] ? null : v.classifier!, num(v['kid-ref'], 'kid-ref', { int: true, min: 2 }), swdOpts);
    if (ref.classifierRecord) console.error(`KID features: ${v.classifier} (test accuracy ${(100 * ref.classifierRecord.testAccuracy).toFixed(1)}%)`);
    const hardware = `${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, tfjs ${backendLabel(backend)}`;

    /** `asked`: the images were asked to be class i mod 10 (guided samples); scores the share that are. */
    const scoreSet = async (id: string, label: string, images: Float32Array, count: number, extra: Partial<EvalResult> = {}, asked = extra.guidance !== undefined): Promise<EvalResult> => {
      const t0 = performance.now();
      const labels = asked ? balancedLabels(count) : undefined;
      const r: EvalResult = { id, label, n: count, ...(await ref.score(images, count, seed, labels)), generateS: 0, ...extra };
      console.log(`${describe(r)}  [scored in ${((performance.now() - t0) / 1000).toFixed(0)} s]`);
      return r;
    };

    if (!v.table) {
      let result: EvalResult;
      if (v.images) {
        const { images, n: got } = readNpyFolder(v.images, n);
        result = await scoreSet('images', `images in ${v.images}`, images, got, v.guidance === undefined ? {} : { guidance: guidanceArg }, !!v['balanced-labels']);
        if (v.grid) result.grid = writeGrid(v.grid, quantize8(images), got);
      } else if (v['train-images']) {
        result = await scoreSet('train-images', 'CIFAR-10 training images', ref.trainImages(n), n);
      } else {
        const sampler = v.sampler as SamplerName;
        if (!Object.hasOwn(SAMPLER_INFO, sampler)) throw new UserError(`--sampler must be one of ${Object.keys(SAMPLER_INFO).join(', ')}, got '${sampler}'`);
        const random = !!v['random-init'];
        const w = random ? null : loadWeightsPath(v.weights!);
        const { steps, eta } = resolveSampling({ sampler, steps: stepsArg, eta: etaArg }, makeSchedule(w?.meta.schedule).T);
        const model = random ? new SimpleUNet({ width: num(v.width, 'width', { min: 0.125 }) }, undefined, num(v['init-seed'], 'init-seed', { int: true })) : new SimpleUNet(w!.config, w!.weights);
        const t0 = performance.now();
        const guidance = model.config.numClasses && !v.unconditional ? guidanceArg : undefined;
        const images = await sampleBatched(model, w ?? { meta: { modelConfig: model.config, schedule: makeSchedule().config, prediction: 'epsilon' } },
          { sampler, steps, eta, n, batch, seed, guidance });
        model.dispose();
        const label = `${random ? 'untrained' : v.weights}, ${SAMPLER_INFO[sampler].label} ${steps}${guidance === undefined ? '' : `, guidance ${guidance}`}`;
        result = await scoreSet('samples', label, images, n, { sampler, steps, generateS: (performance.now() - t0) / 1000, guidance });
        if (v.grid) result.grid = writeGrid(v.grid, quantize8(images), n);
      }
      if (v.json) {
        fs.mkdirSync(path.dirname(path.resolve(v.json)), { recursive: true });
        fs.writeFileSync(v.json, JSON.stringify({ ...result, classifier: ref.classifierRecord ? { path: v.classifier, testAccuracy: ref.classifierRecord.testAccuracy } : null }, null, 1));
      }
      ref.dispose();
      return 0;
    }

    // --table
    const nDdpm = num(v['n-ddpm'], 'n-ddpm', { int: true, min: 2, max: n });
    const w = loadWeightsPath(v.weights!);
    const manifestSha = weightsManifestSha(v.weights!);
    const trained = new SimpleUNet(w.config, w.weights);
    const rows: EvalResult[] = [];
    const only = v.rows ? new Set(v.rows.split(',').map((s) => s.trim())) : null;
    // --rows: rows not rerun keep their previous result only if it still holds: the same weights,
    // or a row that does not depend on them (the untrained network, the training images).
    const prevDoc = only && fs.existsSync(v['out-json']!) ? JSON.parse(fs.readFileSync(v['out-json']!, 'utf8')) as QualityDoc : null;
    const sameWeights = prevDoc?.weights.manifestSha256 === manifestSha && prevDoc?.weights.path === v.weights;
    for (const row of tableRows(n, nDdpm, w.config.numClasses ? guidanceArg : undefined)) {
      if (only && !only.has(row.id)) {
        const old = prevDoc?.rows.find((r) => r.id === row.id);
        const prevWidth = prevDoc?.weights.width;
        const independent = row.kind === 'train' || (row.kind === 'random' && prevWidth === w.config.width);
        if (old && (sameWeights || independent)) rows.push(old);
        continue;
      }
      console.error(`\n== ${row.label} (N ${row.n})`);
      if (row.kind === 'train') {
        rows.push(await scoreSet(row.id, row.label, ref.trainImages(row.n), row.n));
        continue;
      }
      const rowGuidance = row.kind === 'random' || row.guidance === null ? undefined : row.guidance;
      const key = JSON.stringify({ weights: row.kind === 'random' ? `random-init width ${w.config.width} seed 0` : manifestSha, sampler: row.sampler, steps: row.steps, eta: row.eta ?? 0, n: row.n, seed, batch, guidance: rowGuidance });
      const cacheNpy = path.join(v['samples-dir']!, `${row.id}.npy`);
      const cacheJson = path.join(v['samples-dir']!, `${row.id}.json`);
      let images: Float32Array;
      let generateS: number;
      const cached = !v.fresh && fs.existsSync(cacheJson) && fs.existsSync(cacheNpy) ? JSON.parse(fs.readFileSync(cacheJson, 'utf8')) as { key: string; generateS: number } : null;
      if (cached && cached.key === key) {
        images = nchwToNhwc(readNpy(cacheNpy).data, row.n, 3, 32, 32);
        generateS = cached.generateS;
        console.error(`reusing the samples in ${cacheNpy} (generated in ${Math.round(generateS)} s)`);
      } else {
        const model = row.kind === 'random' ? new SimpleUNet(w.config, undefined, 0) : trained;
        const t0 = performance.now();
        images = await sampleBatched(model, w, { sampler: row.sampler!, steps: row.steps!, eta: row.eta ?? 0, n: row.n, batch, seed, guidance: rowGuidance }, row.id);
        generateS = (performance.now() - t0) / 1000;
        if (model !== trained) model.dispose();
        fs.mkdirSync(v['samples-dir']!, { recursive: true });
        writeNpy(cacheNpy, { shape: [row.n, 3, 32, 32], data: nhwcToNchw(images, row.n, 32, 32, 3) });
        fs.writeFileSync(cacheJson, JSON.stringify({ key, generateS }));
      }
      const grid = path.join(v.figures!, `quality-${row.id}.png`);
      writeGrid(grid, quantize8(images), row.n);
      rows.push(await scoreSet(row.id, row.label, images, row.n, { sampler: row.sampler, steps: row.steps, eta: row.eta ?? 0, generateS, grid: path.relative('.', grid), ...(rowGuidance === undefined ? {} : { guidance: rowGuidance }) }));
    }
    trained.dispose();
    const kidRow = rows.find((r) => r.kid)?.kid;
    const doc: QualityDoc = {
      command: `diffusion eval ${args.join(' ')}`, date: new Date().toISOString(), hardware, backend, wallTimeS: (performance.now() - started) / 1000, seed,
      weights: { path: v.weights!, manifestSha256: manifestSha, width: w.config.width, kind: w.meta.weightsKind, trainingSteps: w.meta.training?.steps, epochs: w.meta.training?.epochs, numClasses: w.config.numClasses },
      swd: { ...SWD_DEFAULTS, ...swdOpts, resolutions: rows[0].swd.resolutions } as QualityDoc['swd'],
      kid: kidRow && ref.classifier && ref.classifierRecord ? {
        subsets: kidRow.subsets, subsetSize: kidRow.subsetSize, referenceImages: Math.min(ref.kidRef, test.count), featureDim: ref.classifier.config.hidden,
        classifier: v.classifier!, classifierAccuracy: ref.classifierRecord.testAccuracy,
      } : null,
      rows,
      notes: [
        `Every row starts from the same seeded noise (seed ${seed}); the untrained row uses a freshly initialised network of the same width (init seed 0).`,
        ...(nDdpm !== n ? [`DDPM 1000 makes 1000 network calls per image, so it is scored on ${nDdpm} images; compare its SWD with the floor at N ${nDdpm} (KID is unbiased, so its KID compares with every row, with a wider spread).`] : []),
        'SWD normalises each set by its own per-channel statistics (as ProGAN does), so it measures patch structure more than colour balance; KID and the mean/std columns cover colour.',
      ],
    };
    for (const [file, text] of [[v['out-json']!, JSON.stringify(doc, null, 1) + '\n'], [v['out-md']!, markdownTable(doc, path.dirname(v['out-md']!))]] as const) {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      fs.writeFileSync(file, text);
    }
    console.log(`\nwrote ${v['out-json']} and ${v['out-md']} (${(doc.wallTimeS / 60).toFixed(1)} min)`);
    ref.dispose();
    return 0;
  },
};
