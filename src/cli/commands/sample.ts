/** `diffusion sample`: generate images from weights into a PNG grid (and raw arrays). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, type Command } from '../command.ts';
import { parse, num } from '../args.ts';
import { initNodeBackend, tf } from '../tf-node.ts';
import { SimpleUNet } from '../../core/model.ts';
import { makeSchedule } from '../../core/schedule.ts';
import { generate } from '../../core/generate.ts';
import { SAMPLER_INFO, type SamplerName } from '../../core/samplers.ts';
import { DEFAULT_WEIGHTS, loadWeightsPath } from '../weights-files.ts';
import { encodePNG, imageGrid } from '../png.ts';
import { readNpy, writeNpy, nchwToNhwc, nhwcToNchw } from '../npy.ts';
import { progress } from '../progress.ts';

const USAGE = `Usage: diffusion sample [options]

Generates images with SimpleUNet and writes them as a PNG grid.

  --weights PATH      weights folder, .zip of one (the training lab's download), .pth or
                      .safetensors (default ${DEFAULT_WEIGHTS})
  --raw               use the raw weights of a checkpoint that also has an EMA (default: EMA)
  --sampler NAME      ddim | dpmpp2m | ddpm | seed (default ddim)
                        seed = the seed write-up's 50-step loop, kept to show what it does
  --steps N           sampling steps (default: ${Object.entries(SAMPLER_INFO).map(([k, v]) => `${k} ${v.defaultSteps}`).join(', ')})
  --eta X             DDIM η in [0, 1] (default 0)
  --no-clip           do not clip x̂₀ to [-1, 1] (DDIM / DDPM / DPM-Solver++)
  --n N               number of images (default 16)
  --seed S            seed of the starting noise (default 0)
  --out FILE.png      the grid (default samples.png)
  --scale K           enlarge each 32×32 image K times in the PNG (default 4)
  --init-noise F.npy  start from this float32 NCHW noise [n, 3, 32, 32] instead of --seed
  --out-npy F.npy     also write the raw samples, float32 NCHW (to compare with PyTorch)
  --backend NAME      wasm | cpu (default wasm)`;

export const sampleCommand: Command = {
  name: 'sample',
  summary: 'Generate images from weights into a PNG grid (and .npy for comparisons)',
  usage: USAGE,
  async run(args) {
    const { values: v } = parse(args, {
      weights: { type: 'string', default: DEFAULT_WEIGHTS }, raw: { type: 'boolean' }, sampler: { type: 'string', default: 'ddim' },
      steps: { type: 'string' }, eta: { type: 'string', default: '0' }, 'no-clip': { type: 'boolean' }, n: { type: 'string', default: '16' },
      seed: { type: 'string', default: '0' }, out: { type: 'string', default: 'samples.png' }, scale: { type: 'string', default: '4' },
      'init-noise': { type: 'string' }, 'out-npy': { type: 'string' }, backend: { type: 'string', default: 'wasm' },
    }, USAGE);
    const sampler = v.sampler as SamplerName;
    if (!(sampler in SAMPLER_INFO)) throw new UserError(`--sampler must be one of ${Object.keys(SAMPLER_INFO).join(', ')}, got '${sampler}'`);
    let n = num(v.n, 'n', { int: true, min: 1, max: 1024 });
    const steps = v.steps ? num(v.steps, 'steps', { int: true, min: 1, max: 1000 }) : SAMPLER_INFO[sampler].defaultSteps;
    let initNoise: Float32Array | undefined;
    if (v['init-noise']) {
      const a = readNpy(v['init-noise']);
      if (a.shape.length !== 4 || a.shape[1] !== 3 || a.shape[2] !== 32 || a.shape[3] !== 32) {
        throw new UserError(`--init-noise must be float32 [n, 3, 32, 32] (NCHW), got [${a.shape}]`);
      }
      n = a.shape[0];
      initNoise = nchwToNhwc(a.data, n, 3, 32, 32);
    }
    const backend = await initNodeBackend(v.backend);
    const w = loadWeightsPath(v.weights!, v.raw ? 'model' : 'ema');
    const model = new SimpleUNet(w.config, w.weights);
    const schedule = makeSchedule(w.meta.schedule);
    console.error(`SimpleUNet width ${w.config.width} (${model.numParams.toLocaleString('en-US')} params, ${w.meta.weightsKind ?? 'unknown'} weights from ${v.weights}) on ${backend}: ${SAMPLER_INFO[sampler].label}, ${steps} steps, ${n} images`);
    const bar = progress({ total: steps, label: 'sampling', unit: 'step' });
    const t0 = performance.now();
    const out = await generate((x, t) => model.forward(x, t), schedule, {
      sampler, steps, n, seed: num(v.seed, 'seed', { int: true }), initNoise, prediction: w.meta.prediction,
      eta: num(v.eta, 'eta', { min: 0, max: 1 }), clipX0: v['no-clip'] ? false : undefined, onStep: () => bar.tick(1),
    });
    bar.done();
    const data = (await out.data()) as Float32Array;
    out.dispose();
    model.dispose();
    const secs = (performance.now() - t0) / 1000;
    const { rgb, width, height } = imageGrid(data, n, 32, num(v.scale, 'scale', { int: true, min: 1, max: 16 }));
    fs.mkdirSync(path.dirname(path.resolve(v.out!)), { recursive: true });
    fs.writeFileSync(v.out!, encodePNG(rgb, width, height));
    console.log(`wrote ${v.out} (${n} images, ${secs.toFixed(1)} s, ${(n * steps / secs).toFixed(1)} image-steps/s)`);
    if (v['out-npy']) {
      writeNpy(v['out-npy'], { shape: [n, 3, 32, 32], data: nhwcToNchw(data, n, 32, 32, 3) });
      console.log(`wrote ${v['out-npy']} (float32 NCHW [${n}, 3, 32, 32])`);
    }
    void tf;
    return 0;
  },
};
