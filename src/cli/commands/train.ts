/** `diffusion train`: the project's trainer (the same code the page runs) on CIFAR-10 in Node. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError, type Command } from '../command.ts';
import { parse, num } from '../args.ts';
import { initNodeBackend, threadsOption, backendLabel, THREADS_USAGE } from '../tf-node.ts';
import { SimpleUNet } from '../../core/model.ts';
import { makeSchedule, SEED_SCHEDULE, type ScheduleConfig } from '../../core/schedule.ts';
import { Trainer, RECIPES, type RecipeName, type TrainerState } from '../../core/trainer.ts';
import { NUM_CLASSES } from '../../core/data/cifar.ts';
import { loadWeightsPath } from '../weights-files.ts';
import { encodeCheckpoint, decodeCheckpoint } from '../../core/checkpoint.ts';
import { modelTensors, MANIFEST_FILE, shardPaths, validateManifest, type TrainingRecord } from '../../core/weights/format.ts';
import { resolveCifarDir, loadCifar } from '../data-path.ts';
import { writeWeightsDir, writeManifestDir } from '../weights-files.ts';
import { checkWritableDir, recoverDir, type StepHook } from '../fs-safe.ts';
import { confinedPath, parseJsonLimited } from '../../core/weights/limits.ts';
import { progress } from '../progress.ts';

const USAGE = `Usage: diffusion train [options]

Trains SimpleUNet on CIFAR-10 with an EMA of the weights. Checkpoints (weights, EMA, Adam
moments, step, RNG, loss history) go to OUT/checkpoint and resume exactly with --resume; OUT/ema
holds the EMA weights for \`sample\`.

Recipes (--recipe; flags below override their values):
  project   the shipped small model's (scripts/torch/train.py --recipe cond): class-conditional,
            labels dropped with p 0.1 (classifier-free guidance), AdamW lr 1e-3 after a 200-step
            warm-up then constant, min-SNR-5 loss weights, clipping 1.0, batch 128, flips (default)
  seed      the seed write-up's: unconditional, AdamW lr 1e-4 (weight decay 1e-6), cosine
            annealing over --steps, uniform ε-MSE, clipping 1.0, batch 128 (plus flips)

  --data DIR          CIFAR-10 binary folder (default: $CIFAR10_DIR, ./data, ../shared/data)
  --limit N           train on the first N images only
  --width W           channel multiplier (default 1 = the seed's network; 0.25 is ~11x smaller)
  --batch B           batch size (default 128)
  --recipe NAME       project | seed (default project)
  --init-from DIR     start from these weights (e.g. public/weights/simple-unet-small: fine-tune);
                      the optimizer starts fresh, so keep a warm-up
  --lr X              peak learning rate (default: the recipe's)
  --warmup N          learning-rate warm-up steps (default: the recipe's)
  --steps N           planned optimizer steps; the cosine schedule spans them (default 3910 = 10 epochs)
  --stop-after N      stop this run after N steps (checkpoint kept; resume later)
  --time-budget S     stop this run after S seconds
  --out DIR           run folder (default runs/train)
  --resume            continue from OUT/checkpoint
  --ckpt-every N      checkpoint every N steps (default 50)
  --seed S            data order, noise and initialisation seed (default 0)
  --schedule KIND     linear (the seed's, default) | cosine
  --prediction P      epsilon (the seed's, default) | v
  --backend NAME      wasm | cpu (default wasm)
${THREADS_USAGE}`;

export function readCheckpointDir(dir: string): { state: TrainerState; width: number; schedule: ScheduleConfig; numClasses: number } {
  const file = path.join(dir, MANIFEST_FILE);
  // a save that was interrupted leaves the old or the new checkpoint complete: put it back first
  recoverDir(dir, MANIFEST_FILE);
  if (!fs.existsSync(file)) throw new UserError(`nothing to resume: ${file} does not exist`);
  try {
    const json = parseJsonLimited(fs.readFileSync(file, 'utf8'), file);
    const shards = shardPaths(validateManifest(json, file)).map((p) => new Uint8Array(fs.readFileSync(path.join(dir, confinedPath(p, file)))));
    const { state, manifest } = decodeCheckpoint(json, shards, file);
    return { state, width: manifest.modelConfig.width, schedule: manifest.schedule, numClasses: manifest.modelConfig.numClasses };
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

/** Tests set this to interrupt a checkpoint save between two filesystem steps. */
export let saveHook: StepHook | undefined;
export function setSaveHook(h: StepHook | undefined): void {
  saveHook = h;
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train (or resume, or fine-tune) on CIFAR-10 with the project\'s recipe or --recipe seed',
  usage: USAGE,
  async run(args) {
    const { values: v } = parse(args, {
      data: { type: 'string' }, limit: { type: 'string' }, width: { type: 'string', default: '1' }, batch: { type: 'string', default: '128' },
      lr: { type: 'string' }, steps: { type: 'string', default: '3910' }, 'stop-after': { type: 'string' },
      'time-budget': { type: 'string' }, out: { type: 'string', default: 'runs/train' }, resume: { type: 'boolean' },
      'ckpt-every': { type: 'string', default: '50' }, seed: { type: 'string', default: '0' }, backend: { type: 'string', default: 'wasm' }, threads: { type: 'string' },
      schedule: { type: 'string', default: 'linear' }, prediction: { type: 'string', default: 'epsilon' },
      recipe: { type: 'string', default: 'project' }, 'init-from': { type: 'string' }, warmup: { type: 'string' },
    }, USAGE);
    // Every argument is checked before any work (data, weights, backend): a typo costs nothing.
    if (!Object.hasOwn(RECIPES, v.recipe!)) throw new UserError(`--recipe must be one of ${Object.keys(RECIPES).join(', ')}, got '${v.recipe}'`);
    const recipe = RECIPES[v.recipe as RecipeName];
    if (v.resume && v['init-from']) throw new UserError('--init-from starts a new run; it cannot be combined with --resume');
    if (v.schedule !== 'linear' && v.schedule !== 'cosine') throw new UserError(`--schedule must be linear or cosine, got '${v.schedule}'`);
    if (v.prediction !== 'epsilon' && v.prediction !== 'v') throw new UserError(`--prediction must be epsilon or v, got '${v.prediction}'`);
    if (v.backend !== 'wasm' && v.backend !== 'cpu') throw new UserError(`--backend must be wasm or cpu, got '${v.backend}'`);
    const threads = threadsOption(v.threads);
    const limit = v.limit ? num(v.limit, 'limit', { int: true, min: 1 }) : undefined;
    let width = num(v.width, 'width', { min: 0.125, max: 64 });
    const batch = num(v.batch, 'batch', { int: true, min: 1, max: 65536 });
    const lr = v.lr ? num(v.lr, 'lr', { min: 0, max: 1 }) : recipe.lr;
    const warmup = v.warmup ? num(v.warmup, 'warmup', { int: true, min: 0 }) : recipe.warmupSteps;
    const totalSteps = num(v.steps, 'steps', { int: true, min: 1 });
    const seedArg = num(v.seed, 'seed', { int: true });
    const stopAfter = v['stop-after'] ? num(v['stop-after'], 'stop-after', { int: true, min: 1 }) : Infinity;
    const budget = v['time-budget'] ? num(v['time-budget'], 'time-budget', { min: 1 }) * 1000 : Infinity;
    const every = num(v['ckpt-every'], 'ckpt-every', { int: true, min: 1 });
    if (v['init-from'] && !fs.existsSync(v['init-from'])) throw new UserError(`--init-from: no weights at ${v['init-from']}`);
    const out = path.resolve(v.out!);
    const ckptDir = path.join(out, 'checkpoint');
    if (v.resume && fs.existsSync(out)) recoverDir(ckptDir, MANIFEST_FILE);
    if (v.resume && !fs.existsSync(path.join(ckptDir, MANIFEST_FILE))) throw new UserError(`nothing to resume: ${path.join(ckptDir, MANIFEST_FILE)} does not exist`);
    // --out must be writable now, not at the first checkpoint
    checkWritableDir(out, `--out ${v.out}`);
    const backend = await initNodeBackend(v.backend, threads);
    const dir = resolveCifarDir(v.data);
    const data = loadCifar(dir, 'train', limit ? { limit } : {});
    let scheduleConfig: ScheduleConfig = { ...SEED_SCHEDULE, kind: v.schedule };
    let state: TrainerState | undefined;
    // A conditional recipe trains the 10-class network; a resumed run keeps what it was.
    let numClasses = recipe === RECIPES.seed ? 0 : NUM_CLASSES;
    if (v.resume) ({ state, width, schedule: scheduleConfig, numClasses } = readCheckpointDir(ckptDir));
    const init = v['init-from'] ? loadWeightsPath(v['init-from']) : null;
    if (init) {
      width = init.config.width;
      numClasses = init.config.numClasses;
      scheduleConfig = init.meta.schedule;
    }
    const schedule = makeSchedule(scheduleConfig);
    const model = init ? new SimpleUNet(init.config, init.weights) : new SimpleUNet({ width, numClasses }, undefined, seedArg);
    const trainer = new Trainer(model, schedule, { images: data.images, labels: data.labels, count: data.count }, state ? {} : {
      ...recipe, batchSize: batch, lr, warmupSteps: warmup,
      totalSteps, seed: seedArg, prediction: init?.meta.prediction ?? v.prediction,
    }, state);
    const cfg = trainer.config;
    const command = `diffusion train ${args.join(' ')}`;
    const hardware = `${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, tfjs ${backendLabel(backend)}`;
    console.error(`SimpleUNet width ${width} (${model.numParams.toLocaleString('en-US')} params${numClasses ? `, ${numClasses} classes` : ''}) on ${backendLabel(backend)}; ${data.count} images from ${dir}; `
      + `recipe ${v.recipe}: batch ${cfg.batchSize}, lr ${cfg.lr} (${cfg.lrSchedule}, warm-up ${cfg.warmupSteps}), loss ${cfg.lossWeight}, ${cfg.totalSteps} planned steps; `
      + `${state ? `resuming at step ${trainer.step}` : init ? `fine-tuning ${v['init-from']}` : 'from scratch'}`);

    const record = (): TrainingRecord => ({
      steps: trainer.step, imagesSeen: trainer.imagesSeen, epochs: trainer.imagesSeen / data.count, batchSize: cfg.batchSize,
      finalLoss: trainer.losses.at(-1) ?? null, bestLoss: trainer.losses.length ? Math.min(...trainer.losses) : null,
      wallTimeS: trainer.wallTimeS, hardware, command, recipe: { ...cfg }, lossCurve: 'loss.json',
    });
    const save = async () => {
      const st = await trainer.state();
      const { manifest, shards } = encodeCheckpoint(st, model.config, schedule.config, record());
      writeManifestDir(ckptDir, manifest, shards, {}, saveHook, 0);
      writeWeightsDir(path.join(out, 'ema'), modelTensors(st.ema, model.config), { modelConfig: model.config, schedule: schedule.config, prediction: cfg.prediction, weightsKind: 'ema', training: record() },
        {}, { 'loss.json': JSON.stringify({ batchSize: cfg.batchSize, losses: st.losses }) }, saveHook);
    };

    let stop = false;
    const onSignal = () => { stop = true; console.error('\nstopping after this step (checkpoint follows)…'); };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const goal = Math.min(cfg.totalSteps, trainer.step + stopAfter);
    const bar = progress({ total: goal - trainer.step, label: 'training', unit: 'step' });
    const started = performance.now();
    let window: number[] = [];
    while (trainer.step < goal && !stop && performance.now() - started < budget) {
      const r = await trainer.trainStep();
      window.push(r.loss);
      if (window.length > 20) window = window.slice(-20);
      const mean = window.reduce((a, b) => a + b, 0) / window.length;
      bar.tick(1, `step ${r.step} loss ${mean.toFixed(4)} lr ${r.lr.toExponential(2)} ${(r.imagesSeen / trainer.wallTimeS).toFixed(1)} img/s`);
      if (r.step % every === 0) await save();
    }
    bar.done();
    await save();
    console.log(`step ${trainer.step}/${cfg.totalSteps}, loss ${trainer.losses.at(-1)?.toFixed(4)}; checkpoint in ${ckptDir}, EMA weights in ${path.join(out, 'ema')}`);
    trainer.dispose();
    model.dispose();
    return 0;
  },
};
