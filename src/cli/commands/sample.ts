/** `diffusion sample`: generate images from weights into a PNG grid (and raw arrays). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, type Command } from '../command.ts';
import { parse, num } from '../args.ts';
import { initNodeBackend, threadsOption, backendLabel, THREADS_USAGE, tf } from '../tf-node.ts';
import { SimpleUNet } from '../../core/model.ts';
import { makeSchedule } from '../../core/schedule.ts';
import { generate } from '../../core/generate.ts';
import {
  defaultSteps, resolveSampling, ETA_RANGE, GUIDANCE_RANGE, MAX_SAMPLING_STEPS, RECOMMENDED_GUIDANCE, RECOMMENDED_SAMPLING, SAMPLER_INFO,
  type SamplerName, type SamplingSetting,
} from '../../core/sampling-defaults.ts';
import { CLASS_NAMES } from '../../core/data/cifar.ts';
import { classGridLabels, conditionedDenoiser, checkConditioning, parseClass } from '../../core/guidance.ts';
import { DEFAULT_WEIGHTS, loadWeightsPath } from '../weights-files.ts';
import { encodePNG, imageGrid } from '../png.ts';
import { readNpy, writeNpy, nchwToNhwc, nhwcToNchw } from '../npy.ts';
import { progress } from '../progress.ts';
import { checkWritableFile } from '../fs-safe.ts';

const USAGE = `Usage: diffusion sample [options]

Generates images with SimpleUNet and writes them as a PNG grid.

  --weights PATH      weights folder, .zip of one (the training lab's download), .pth or
                      .safetensors (default ${DEFAULT_WEIGHTS})
  --raw               use the raw weights of a checkpoint that also has an EMA (default: EMA)
  --sampler NAME      ddim | dpmpp2m | ddpm | seed (default ${RECOMMENDED_SAMPLING.sampler})
                        seed = the seed write-up's 50-step loop, kept to show what it does
  --steps N           sampling steps, 1–${MAX_SAMPLING_STEPS} (default: ${(Object.keys(SAMPLER_INFO) as SamplerName[]).map((k) => `${k} ${defaultSteps(k)}`).join(', ')})
  --eta X             DDIM η in [0, 1] (default ${RECOMMENDED_SAMPLING.eta}: the page's setting, from the quality table)
  --class K           a class-conditional model draws class K: 0–9 or a name
                      (${CLASS_NAMES.join(', ')}); 'all' draws one row per class
                      (--n images each, default 8). Without it: any class.
  --guidance W        classifier-free guidance scale w in [${GUIDANCE_RANGE.min}, ${GUIDANCE_RANGE.max}] (default ${RECOMMENDED_GUIDANCE} with
                      --class; 1 = the plain conditional model, 0 = unconditional)
  --no-clip           do not clip x̂₀ to [-1, 1] (DDIM / DDPM / DPM-Solver++)
  --n N               number of images (default 16; per class with --class all)
  --seed S            seed of the starting noise (default 0)
  --out FILE.png      the grid (default samples.png)
  --scale K           enlarge each 32×32 image K times in the PNG (default 4)
  --init-noise F.npy  start from this float32 NCHW noise [n, 3, 32, 32] instead of --seed
  --out-npy F.npy     also write the raw samples, float32 NCHW (to compare with PyTorch)
  --backend NAME      wasm | cpu (default wasm)
${THREADS_USAGE}`;

export const sampleCommand: Command = {
  name: 'sample',
  summary: 'Generate images from weights into a PNG grid (and .npy for comparisons)',
  usage: USAGE,
  async run(args) {
    const { values: v } = parse(args, {
      weights: { type: 'string', default: DEFAULT_WEIGHTS }, raw: { type: 'boolean' }, sampler: { type: 'string', default: RECOMMENDED_SAMPLING.sampler },
      steps: { type: 'string' }, eta: { type: 'string' }, 'no-clip': { type: 'boolean' }, n: { type: 'string' },
      class: { type: 'string' }, guidance: { type: 'string' },
      seed: { type: 'string', default: '0' }, out: { type: 'string', default: 'samples.png' }, scale: { type: 'string', default: '4' },
      'init-noise': { type: 'string' }, 'out-npy': { type: 'string' }, backend: { type: 'string', default: 'wasm' }, threads: { type: 'string' },
    }, USAGE);
    const sampler = v.sampler as SamplerName;
    if (!Object.hasOwn(SAMPLER_INFO, sampler)) throw new UserError(`--sampler must be one of ${Object.keys(SAMPLER_INFO).join(', ')}, got '${sampler}'`);
    const all = v.class?.trim().toLowerCase() === 'all';
    let n = num(v.n ?? (all ? '8' : '16'), 'n', { int: true, min: 1, max: 1024 });
    // Only the numbers' form here; the defaults and the check against the schedule are resolveSampling's.
    const steps = v.steps === undefined ? undefined : num(v.steps, 'steps', { int: true, min: 1, max: MAX_SAMPLING_STEPS });
    const eta = v.eta === undefined ? undefined : num(v.eta, 'eta', ETA_RANGE);
    const seed = num(v.seed, 'seed', { int: true });
    const scale = num(v.scale, 'scale', { int: true, min: 1, max: 16 });
    let labels: (number | null)[] | undefined;
    let cols: number | undefined;
    if (v.class !== undefined) {
      if (all) {
        if (n * CLASS_NAMES.length > 1024) throw new UserError(`--class all with --n ${n} makes ${n * CLASS_NAMES.length} images; at most 1024`);
        labels = classGridLabels(n);
        cols = n;
        n = labels.length;
      } else {
        let k: number;
        try { k = parseClass(v.class); } catch (e) { throw new UserError(`--class: ${(e as Error).message}`); }
        labels = new Array<number>(n).fill(k);
      }
    }
    if (v.guidance !== undefined && !labels) throw new UserError('--guidance needs --class (guidance pulls samples toward a class)');
    // Without a class the network is not guided (w = 1 is the plain model).
    const guidance = !labels ? 1 : v.guidance === undefined ? undefined : num(v.guidance, 'guidance', GUIDANCE_RANGE);
    if (v.backend !== 'wasm' && v.backend !== 'cpu') throw new UserError(`--backend must be wasm or cpu, got '${v.backend}'`);
    const threads = threadsOption(v.threads);
    if (v['out-npy'] && path.resolve(v['out-npy']) === path.resolve(v.out!)) throw new UserError('--out and --out-npy name the same file');
    // both outputs are proven writable now, not after minutes of sampling
    checkWritableFile(v.out!, '--out');
    if (v['out-npy']) checkWritableFile(v['out-npy'], '--out-npy');
    if (!fs.existsSync(v.weights!)) throw new UserError(`no weights at ${v.weights}${v.weights === DEFAULT_WEIGHTS ? ' (train some with `diffusion train`, or import a checkpoint with `diffusion import`)' : ''}`);
    if (v['init-noise'] && !fs.existsSync(v['init-noise'])) throw new UserError(`--init-noise: no file at ${v['init-noise']}`);
    let initNoise: Float32Array | undefined;
    if (v['init-noise']) {
      const a = readNpy(v['init-noise']);
      if (a.shape.length !== 4 || a.shape[1] !== 3 || a.shape[2] !== 32 || a.shape[3] !== 32) {
        throw new UserError(`--init-noise must be float32 [n, 3, 32, 32] (NCHW), got [${a.shape}]`);
      }
      if (labels && a.shape[0] !== n) throw new UserError(`--init-noise holds ${a.shape[0]} images, but --class asks for ${n}`);
      n = a.shape[0];
      initNoise = nchwToNhwc(a.data, n, 3, 32, 32);
    }
    const backend = await initNodeBackend(v.backend, threads);
    const w = loadWeightsPath(v.weights!, v.raw ? 'model' : 'ema');
    const model = new SimpleUNet(w.config, w.weights);
    const schedule = makeSchedule(w.meta.schedule);
    if (labels && model.config.numClasses === 0) {
      model.dispose();
      throw new UserError(`${v.weights} is an unconditional model (trained without class labels): it cannot draw a chosen class; drop --class`);
    }
    let setting: SamplingSetting;
    try {
      setting = resolveSampling({ sampler, steps, eta, guidance, clipX0: v['no-clip'] ? false : undefined }, schedule.T);
    } catch (e) {
      model.dispose();
      throw new UserError(`${v.weights}: ${(e as Error).message}`);
    }
    const conditioning = { labels, guidance: setting.guidance };
    try { checkConditioning(model, n, conditioning); } catch (e) { model.dispose(); throw new UserError((e as Error).message); }
    const what = !labels ? (model.config.numClasses ? 'any class' : 'unconditional')
      : `${all ? 'one row per class' : CLASS_NAMES[labels[0]!]}, guidance ${setting.guidance}`;
    console.error(`SimpleUNet width ${w.config.width} (${model.numParams.toLocaleString('en-US')} params, ${w.meta.weightsKind ?? 'unknown'} weights from ${v.weights}) on ${backendLabel(backend)}: ${SAMPLER_INFO[sampler].label}${sampler === 'ddim' ? ` η ${setting.eta}` : ''}, ${setting.steps} steps, ${n} images, ${what}`);
    const bar = progress({ total: setting.steps, label: 'sampling', unit: 'step' });
    const t0 = performance.now();
    const out = await generate(conditionedDenoiser(model, n, conditioning), schedule, {
      setting, n, seed, initNoise, prediction: w.meta.prediction, onStep: () => bar.tick(1),
    });
    bar.done();
    const data = (await out.data()) as Float32Array;
    out.dispose();
    model.dispose();
    const secs = (performance.now() - t0) / 1000;
    const { rgb, width, height } = imageGrid(data, n, 32, scale, 2, cols);
    fs.writeFileSync(v.out!, encodePNG(rgb, width, height));
    console.log(`wrote ${v.out} (${n} images, ${secs.toFixed(1)} s, ${(n * setting.steps / secs).toFixed(1)} image-steps/s)`);
    if (v['out-npy']) {
      writeNpy(v['out-npy'], { shape: [n, 3, 32, 32], data: nhwcToNchw(data, n, 32, 32, 3) });
      console.log(`wrote ${v['out-npy']} (float32 NCHW [${n}, 3, 32, 32])`);
    }
    void tf;
    return 0;
  },
};
