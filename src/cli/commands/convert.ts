/** `diffusion import` (PyTorch / safetensors → project weights) and `export` (→ .safetensors). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkWritableDir, checkWritableFile } from '../fs-safe.ts';
import { UserError, type Command } from '../command.ts';
import { parse } from '../args.ts';
import { modelTensors, type WeightsMeta } from '../../core/weights/format.ts';
import { toTorchTensors } from '../../core/weights/torch-import.ts';
import { writeSafetensors } from '../../core/weights/safetensors.ts';
import { countParams } from '../../core/model.ts';
import { loadWeightsPath, writeWeightsDir } from '../weights-files.ts';

const IMPORT_USAGE = `Usage: diffusion import FILE (.pth | .pt | .safetensors | .zip) --out DIR [--raw] [--float16]

Converts a PyTorch checkpoint into the project's weights format (a folder the page and the CLI
load). Accepts the seed notebook's torch.save dict (model_state_dict, model_config,
diffusion_config, optimizer state…), a bare state_dict, a training checkpoint with an EMA,
or .safetensors; also a .zip of the project's own format (weights.json + shards, what the
page's training lab downloads with "Download weights"). The pickle is never executed: only the opcodes and globals a state_dict needs
are accepted, anything else is refused. Names and shapes are checked against SimpleUNet.

  --out DIR     destination folder (e.g. public/weights/my-model)
  --raw         take the raw weights when the checkpoint also has an EMA (default: EMA)
  --float16     store float16 shards (half the size; what the site ships)`;

const EXPORT_USAGE = `Usage: diffusion export [--weights DIR] --out FILE.safetensors

Writes weights as .safetensors with PyTorch names and layouts (conv weights OIHW, transposed
convs [in, out, kh, kw], linear [out, in]), loadable with
  model.load_state_dict(safetensors.torch.load_file(FILE))
in the seed's SimpleUNet.

  --weights PATH   weights folder, .zip of one, .pth or .safetensors (default public/weights/simple-unet)`;

export const importCommand: Command = {
  name: 'import',
  summary: 'Convert a PyTorch checkpoint (.pth) or .safetensors into the project\'s weights format',
  usage: IMPORT_USAGE,
  async run(args) {
    const { values: v, positionals } = parse(args, { out: { type: 'string' }, raw: { type: 'boolean' }, float16: { type: 'boolean' } }, IMPORT_USAGE);
    if (positionals.length !== 1) throw new UserError(`import takes one file\n\n${IMPORT_USAGE}`);
    if (!v.out) throw new UserError(`--out DIR is required\n\n${IMPORT_USAGE}`);
    if (!fs.existsSync(positionals[0])) throw new UserError(`no file at ${positionals[0]}`);
    if (fs.existsSync(v.out) && !fs.statSync(v.out).isDirectory()) throw new UserError(`--out ${v.out} is a file, not a folder`);
    checkWritableDir(path.dirname(path.resolve(v.out)), `the folder of --out ${v.out}`);
    const w = loadWeightsPath(positionals[0], v.raw ? 'model' : 'ema');
    const meta: WeightsMeta = { ...w.meta, extra: { importedFrom: positionals[0], source: w.source } };
    if (meta.training) meta.training = withLocalPathsRelative(meta.training, process.cwd());
    const extraFiles: Record<string, string> = {};
    if (w.losses?.length && meta.training) {
      // Keep the loss curve beside the weights, as `train` does.
      meta.training = { ...meta.training, lossCurve: 'loss.json' };
      extraFiles['loss.json'] = JSON.stringify({ batchSize: meta.training.batchSize, losses: w.losses });
    }
    writeWeightsDir(v.out, modelTensors(w.weights, w.config), meta, { dtype: v.float16 ? 'float16' : 'float32' }, extraFiles);
    console.log(`imported ${positionals[0]} (${w.source}, width ${w.config.width}, ${countParams(w.config).toLocaleString('en-US')} parameters) → ${v.out}`);
    return 0;
  },
};

/**
 * Training records name files as the trainer saw them; a run started with an absolute path
 * (e.g. --data /home/me/shared/data) would publish the build machine's layout in weights.json.
 * Paths under the working folder or its parent become relative to the working folder.
 */
export function withLocalPathsRelative<T>(record: T, cwd: string): T {
  const here = path.resolve(cwd);
  const prefixes: [string, string][] = [[`${here}${path.sep}`, ''], [`${path.dirname(here)}${path.sep}`, `..${path.sep}`]];
  const fix = (v: unknown): unknown => {
    if (typeof v === 'string') {
      let out = v;
      for (const [abs, rel] of prefixes) out = out.split(abs).join(rel);
      return out;
    }
    if (Array.isArray(v)) return v.map(fix);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fix(x)]));
    return v;
  };
  return fix(record) as T;
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'Write weights as .safetensors with PyTorch names and layouts',
  usage: EXPORT_USAGE,
  async run(args) {
    const { values: v } = parse(args, { weights: { type: 'string', default: 'public/weights/simple-unet' }, out: { type: 'string' } }, EXPORT_USAGE);
    if (!v.out) throw new UserError(`--out FILE.safetensors is required\n\n${EXPORT_USAGE}`);
    checkWritableFile(v.out, '--out');
    const w = loadWeightsPath(v.weights!);
    const tensors = toTorchTensors(w.weights, w.config).map((t) => ({ ...t, dtype: 'F32' as const }));
    const meta = { simple_unet: JSON.stringify({ modelConfig: w.config, schedule: w.meta.schedule, prediction: w.meta.prediction, weightsKind: w.meta.weightsKind, training: w.meta.training }) };
    fs.writeFileSync(v.out, writeSafetensors(tensors, meta));
    console.log(`exported ${v.weights} → ${v.out} (${tensors.length} tensors, PyTorch layout)`);
    return 0;
  },
};
