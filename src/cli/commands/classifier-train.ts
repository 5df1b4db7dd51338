/**
 * `diffusion classifier-train`: trains the small CIFAR-10 classifier whose penultimate layer
 * gives the features for KID (`diffusion eval`), and ships it as float16 weights with its
 * test accuracy in the manifest.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError, type Command } from '../command.ts';
import { parse, num } from '../args.ts';
import { initNodeBackend, threadsOption, backendLabel, THREADS_USAGE, tf } from '../tf-node.ts';
import { Rng } from '../../core/rng.ts';
import { toNHWCFloat } from '../../core/data/cifar.ts';
import { CifarClassifier, CLASSIFIER_CONFIG, accuracy, augmentBatch, decodeClassifier, encodeClassifier, type ClassifierConfig, type ClassifierRecord } from '../../core/metrics/classifier.ts';
import { MANIFEST_FILE, shardPaths } from '../../core/weights/format.ts';
import { recoverDir, writeDirAtomic } from '../fs-safe.ts';
import { confinedPath, parseJsonLimited } from '../../core/weights/limits.ts';
import { resolveCifarDir, loadCifar } from '../data-path.ts';
import { progress } from '../progress.ts';

export const DEFAULT_CLASSIFIER = 'public/weights/cifar-classifier';

const USAGE = `Usage: diffusion classifier-train [options]

Trains the compact CIFAR-10 classifier used for KID features (three conv-BatchNorm-ReLU-maxpool
stages, the 4×4 map flattened into a ${CLASSIFIER_CONFIG.hidden}-d ReLU feature layer, 10 logits) on
the 50,000 training images with Adam, a warm-up + cosine learning rate and random flips; then
scores all 10,000 test images with the float16 weights it writes.

  --data DIR          CIFAR-10 binary folder (default: $CIFAR10_DIR, ./data, ../shared/data)
  --epochs N          passes over the training set (default 3)
  --batch B           batch size (default 128)
  --lr X              peak learning rate (default 2e-3)
  --channels A,B,C    channels of the three stages (default ${CLASSIFIER_CONFIG.channels.join(',')})
  --hidden H          feature-layer width (default ${CLASSIFIER_CONFIG.hidden})
  --double            two convolutions per stage (about 3x slower)
  --gap               global-average-pool head instead of flattening the 4×4 map
  --pad P             random-crop padding in pixels, 0 = none (default 0: a 3-epoch run underfits)
  --limit N           train on the first N images only (for quick checks)
  --time-budget S     stop training after S seconds (the learning rate still follows --epochs)
  --out DIR           weights folder (default ${DEFAULT_CLASSIFIER})
  --seed S            initialisation and data-order seed (default 0)
  --backend NAME      wasm | cpu (default wasm)
${THREADS_USAGE}`;

/** Loads the classifier weights folder written by classifier-train. */
export function loadClassifierDir(dir: string): { model: CifarClassifier; record: ClassifierRecord; config: ClassifierConfig } {
  const file = path.join(dir, MANIFEST_FILE);
  recoverDir(dir, MANIFEST_FILE);
  if (!fs.existsSync(file)) throw new UserError(`no classifier weights at ${dir} (train them with \`diffusion classifier-train\`)`);
  try {
    const json = parseJsonLimited(fs.readFileSync(file, 'utf8'), file) as { weightsManifest?: unknown };
    const groups = Array.isArray(json?.weightsManifest) ? (json.weightsManifest as { paths?: unknown }[]) : [];
    const paths = groups.flatMap((g) => (g && Array.isArray(g.paths) ? g.paths : [])).map((p) => confinedPath(p, file));
    const shards = paths.map((p) => new Uint8Array(fs.readFileSync(path.join(dir, p))));
    const { config, weights, manifest } = decodeClassifier(json, shards, file);
    return { model: new CifarClassifier(config, weights), record: manifest.record, config };
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

export const classifierTrainCommand: Command = {
  name: 'classifier-train',
  summary: 'Train the small CIFAR-10 classifier whose features KID uses',
  usage: USAGE,
  async run(args) {
    const { values: v } = parse(args, {
      data: { type: 'string' }, epochs: { type: 'string', default: '3' }, batch: { type: 'string', default: '128' },
      lr: { type: 'string', default: '2e-3' }, channels: { type: 'string', default: CLASSIFIER_CONFIG.channels.join(',') },
      hidden: { type: 'string', default: String(CLASSIFIER_CONFIG.hidden) }, double: { type: 'boolean' }, gap: { type: 'boolean' }, pad: { type: 'string', default: '0' },
      limit: { type: 'string' }, 'time-budget': { type: 'string' }, out: { type: 'string', default: DEFAULT_CLASSIFIER },
      seed: { type: 'string', default: '0' }, backend: { type: 'string', default: 'wasm' }, threads: { type: 'string' },
    }, USAGE);
    const channels = v.channels!.split(',').map((s) => num(s, 'channels', { int: true, min: 1 }));
    if (channels.length !== 3) throw new UserError(`--channels needs three numbers, got '${v.channels}'`);
    const cfg: ClassifierConfig = { channels: channels as [number, number, number], hidden: num(v.hidden, 'hidden', { int: true, min: 1 }), double: !!v.double, head: v.gap ? 'gap' : 'flatten' };
    const epochs = num(v.epochs, 'epochs', { min: 0.01 });
    const B = num(v.batch, 'batch', { int: true, min: 1 });
    const peak = num(v.lr, 'lr', { min: 0 });
    const pad = num(v.pad, 'pad', { int: true, min: 0, max: 16 });
    const seed = num(v.seed, 'seed', { int: true });
    const threads = threadsOption(v.threads);
    const budget = v['time-budget'] ? num(v['time-budget'], 'time-budget', { min: 1 }) * 1000 : Infinity;
    const backend = await initNodeBackend(v.backend, threads);
    const dir = resolveCifarDir(v.data);
    const train = loadCifar(dir, 'train', v.limit ? { limit: num(v.limit, 'limit', { int: true, min: 1 }) } : {});
    const test = loadCifar(dir, 'test');
    const model = new CifarClassifier(cfg, undefined, seed);
    const totalSteps = Math.max(1, Math.round((epochs * train.count) / B));
    const warmup = Math.min(200, Math.round(totalSteps * 0.05));
    const lrAt = (s: number) => (s < warmup ? (peak * (s + 1)) / warmup : (peak * (1 + Math.cos((Math.PI * (s - warmup)) / Math.max(1, totalSteps - warmup)))) / 2);
    const opt = tf.train.adam(peak);
    const vars = model.trainableVariables();
    const rng = new Rng(seed + 1);
    console.error(`classifier ${JSON.stringify(cfg)} (${model.numParams.toLocaleString('en-US')} params) on ${backendLabel(backend)}; ${train.count} training images from ${dir}; `
      + `${epochs} epochs = ${totalSteps} steps of ${B}, Adam peak lr ${peak}, ${pad ? `crop pad ${pad}, ` : ''}flips`);

    // Test accuracy on a fixed slice of the test set, for the log (the full set is scored at the end).
    const testX = toNHWCFloat(test.images, Array.from({ length: test.count }, (_, i) => i));
    const quickAcc = async (m: CifarClassifier, count: number) => accuracy((await m.embed(testX.subarray(0, count * 3072), count)).logits, test.labels.subarray(0, count));

    const bar = progress({ total: totalSteps, label: 'training', unit: 'step' });
    const started = performance.now();
    let perm: Uint32Array = new Uint32Array(0);
    let window: number[] = [];
    let step = 0;
    for (; step < totalSteps; step++) {
      if (performance.now() - started > budget) break;
      const pos = (step * B) % train.count;
      if (pos < B) perm = permutation(train.count, rng);
      const idx = Array.from({ length: B }, (_, k) => perm[(pos + k) % train.count]);
      const xs = tf.tensor4d(augmentBatch(train.images, idx, rng, pad), [B, 32, 32, 3]);
      const ys = tf.oneHot(tf.tensor1d(idx.map((i) => train.labels[i]), 'int32'), 10);
      (opt as unknown as { learningRate: number }).learningRate = lrAt(step);
      let stats: Map<string, { mean: tf.Tensor1D; variance: tf.Tensor1D }> | undefined;
      const loss = opt.minimize(() => {
        const o = model.apply(xs, true);
        stats = o.batchStats;
        return tf.losses.softmaxCrossEntropy(ys, o.logits) as tf.Scalar;
      }, true, vars)!;
      model.updateRunningStats(stats!);
      const [l] = await loss.data();
      loss.dispose();
      xs.dispose();
      ys.dispose();
      if (!Number.isFinite(l)) throw new Error(`training diverged at step ${step + 1}: loss ${l}`);
      window.push(l);
      if (window.length > 50) window = window.slice(-50);
      const epoch = ((step + 1) * B) / train.count;
      bar.tick(1, `loss ${(window.reduce((a, b) => a + b, 0) / window.length).toFixed(3)} lr ${lrAt(step).toExponential(2)} epoch ${epoch.toFixed(2)}`);
      if (Math.floor(epoch) > Math.floor((step * B) / train.count)) {
        console.error(`epoch ${Math.floor(epoch)}: test accuracy on the first 1,000 test images ${(100 * (await quickAcc(model, 1000))).toFixed(1)}%`);
      }
    }
    bar.done();
    const wallTimeS = (performance.now() - started) / 1000;
    if (step < totalSteps) console.error(`stopped by --time-budget after ${step} of ${totalSteps} steps`);

    // Score what ships: the float16-rounded weights.
    const record: ClassifierRecord = {
      testAccuracy: 0, testImages: test.count, epochs: (step * B) / train.count, steps: step, batchSize: B, wallTimeS,
      hardware: `${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, tfjs ${backendLabel(backend)}`, command: `diffusion classifier-train ${args.join(' ')}`,
      recipe: { optimizer: 'adam', peakLr: peak, warmupSteps: warmup, schedule: 'linear warm-up then cosine to 0', plannedSteps: totalSteps, cropPad: pad, flip: true, seed, trainImages: train.count, batchNormMomentum: 0.1 },
    };
    let enc = encodeClassifier(await model.read(), cfg, record);
    const half = new CifarClassifier(cfg, decodeClassifier(enc.manifest, enc.shards).weights);
    const t0 = performance.now();
    const testBar = progress({ total: test.count, label: 'test set', unit: 'img' });
    const { logits } = await half.embed(testX, test.count, 250, (d) => testBar.update(d));
    testBar.done();
    record.testAccuracy = accuracy(logits, test.labels);
    enc = encodeClassifier(await model.read(), cfg, record);
    const out = path.resolve(v.out!);
    // atomic: the previous classifier stays complete until the new one is (fs-safe.ts writeDirAtomic)
    writeDirAtomic(out, [...shardPaths(enc.manifest as never).map((p, i) => [p, enc.shards[i]!] as const), [MANIFEST_FILE, JSON.stringify(enc.manifest, null, 1)] as const], MANIFEST_FILE);
    console.log(`test accuracy ${(100 * record.testAccuracy).toFixed(2)}% on ${test.count} images (float16 weights; scored in ${((performance.now() - t0) / 1000).toFixed(1)} s); `
      + `trained ${record.epochs.toFixed(2)} epochs in ${(wallTimeS / 60).toFixed(1)} min → ${v.out}`);
    model.dispose();
    half.dispose();
    return 0;
  },
};

function permutation(n: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
