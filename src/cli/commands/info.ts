/** `diffusion info`: parameters and per-block output shapes, computed from the real model. */
import type { Command } from '../command.ts';
import { parse, num } from '../args.ts';
import { initNodeBackend, tf } from '../tf-node.ts';
import { SimpleUNet, blockParams, countParams, BLOCKS, type UNetConfig } from '../../core/model.ts';
import { loadWeightsPath } from '../weights-files.ts';

const USAGE = `Usage: diffusion info [--width W] [--weights PATH] [--json]

Prints SimpleUNet's parameter count and each block's output shape and parameters, from a
forward pass of the real model. With --weights, describes those weights (and their training record).

  --width W        channel multiplier (default 1: the seed's 16,808,835-parameter network)
  --weights PATH   a weights folder, .zip of one, .pth or .safetensors (its width is read from the file)
  --json           machine-readable output`;

export interface BlockInfo {
  block: string;
  shape: number[];
  params: number;
}

export function describeModel(cfg: Partial<UNetConfig>): { total: number; blocks: BlockInfo[] } {
  const m = new SimpleUNet(cfg);
  const per = blockParams(m.config);
  const shapes = new Map<string, number[]>();
  tf.tidy(() => m.forward(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D, tf.tensor1d([0], 'int32'), { trace: (b, s) => shapes.set(b, s) }));
  m.dispose();
  return { total: countParams(m.config), blocks: BLOCKS.map((b) => ({ block: b, shape: shapes.get(b)!, params: per[b] ?? 0 })) };
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'Parameter count and per-block shapes of SimpleUNet (or of a weights file)',
  usage: USAGE,
  async run(args) {
    const { values } = parse(args, { width: { type: 'string' }, weights: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
    await initNodeBackend('wasm');
    let cfg: Partial<UNetConfig> = { width: values.width ? num(values.width, 'width', { min: 0.125 }) : 1 };
    let meta: unknown = null;
    if (values.weights) {
      const w = loadWeightsPath(values.weights);
      cfg = w.config;
      meta = { format: w.format, source: w.source, schedule: w.meta.schedule, prediction: w.meta.prediction, weightsKind: w.meta.weightsKind, training: w.meta.training };
    }
    const d = describeModel(cfg);
    if (values.json) {
      console.log(JSON.stringify({ config: { ...cfg }, ...d, weights: meta }, null, 2));
      return 0;
    }
    console.log(`SimpleUNet width ${cfg.width}: ${d.total.toLocaleString('en-US')} parameters`);
    console.log(`${'block'.padEnd(10)} ${'output (NHWC)'.padEnd(16)} ${'params'.padStart(12)}`);
    for (const b of d.blocks) console.log(`${b.block.padEnd(10)} ${`[${b.shape.join(', ')}]`.padEnd(16)} ${b.params.toLocaleString('en-US').padStart(12)}`);
    if (meta) console.log(`\nweights: ${JSON.stringify(meta, null, 2)}`);
    return 0;
  },
};
