/**
 * PyTorch state_dicts ⇄ this model. Names are the same on both sides; the width is read from
 * the tensors themselves (conv1.weight is [64·width, 3, 3, 3]), so a seed checkpoint, a
 * bare state_dict and the project's own exports all load without a config.
 */
import { SEED_CONFIG, paramSpecs, type UNetConfig } from '../model.ts';
import type { TorchTensor } from './tensor.ts';
import { tfjsToTorch, torchToTfjs } from './layout.ts';
import type { NamedArray } from './format.ts';
import { firstNonFinite } from './limits.ts';

export class WeightsMismatchError extends Error {
  override name = 'WeightsMismatchError';
}

/** Width implied by the first convolution, or an error saying why it cannot be read. */
export function inferWidth(sd: Map<string, { shape: number[] }>, source: string): number {
  const w = sd.get('conv1.weight');
  if (!w) {
    const some = [...sd.keys()].slice(0, 8).join(', ');
    throw new WeightsMismatchError(`${source} has no 'conv1.weight', so it is not a SimpleUNet state_dict (its first keys: ${some || 'none'})`);
  }
  if (w.shape.length !== 4 || w.shape[1] !== 3) throw new WeightsMismatchError(`${source}: conv1.weight has shape [${w.shape}], expected [64·width, 3, 3, 3]`);
  return w.shape[0] / 64;
}

/** A PyTorch state_dict → (config, tfjs-layout arrays). Lists every missing, extra or misshapen tensor. */
export function fromTorchStateDict(sd: Map<string, TorchTensor>, source = 'checkpoint', base: Partial<UNetConfig> = {}): { config: UNetConfig; weights: Map<string, Float32Array> } {
  const cls = sd.get('class_embedding.weight');
  const numClasses = cls && cls.shape.length === 2 && cls.shape[0] >= 2 ? cls.shape[0] - 1 : 0;
  const config: UNetConfig = { ...SEED_CONFIG, ...base, width: inferWidth(sd, source), numClasses };
  let specs;
  try {
    specs = paramSpecs(config);
  } catch (e) {
    throw new WeightsMismatchError(`${source}: ${(e as Error).message}`);
  }
  const missing: string[] = [];
  const wrong: string[] = [];
  const nonFinite: string[] = [];
  const weights = new Map<string, Float32Array>();
  for (const s of specs) {
    const t = sd.get(s.name);
    if (!t) {
      missing.push(s.name);
    } else if (t.shape.join() !== s.torchShape.join()) {
      wrong.push(`${s.name}: [${t.shape}] in the file, [${s.torchShape}] expected`);
    } else if (!(t.data instanceof Float32Array)) {
      wrong.push(`${s.name}: dtype ${t.dtype} is not a floating-point type`);
    } else {
      const bad = firstNonFinite(t.data);
      if (bad) nonFinite.push(`${s.name} (first at index ${bad[0]}: ${bad[1]})`);
      else weights.set(s.name, torchToTfjs(s, t.data));
    }
  }
  const known = new Set(specs.map((s) => s.name));
  const extra = [...sd.keys()].filter((k) => !known.has(k) && !k.endsWith('num_batches_tracked'));
  if (missing.length || wrong.length || extra.length) {
    const list = (title: string, xs: string[]) => (xs.length ? `\n  ${title} (${xs.length}): ${xs.slice(0, 12).join('; ')}${xs.length > 12 ? '; …' : ''}` : '');
    throw new WeightsMismatchError(`${source} does not match SimpleUNet (width ${config.width}):${list('missing', missing)}${list('wrong shape', wrong)}${list('unexpected', extra)}`);
  }
  if (nonFinite.length) {
    throw new WeightsMismatchError(`${source}: ${nonFinite.length} tensor(s) hold NaN or infinite values: ${nonFinite.slice(0, 4).join('; ')}${nonFinite.length > 4 ? '; …' : ''}`);
  }
  return { config, weights };
}

/** tfjs-layout arrays → PyTorch names, shapes and layouts (for .safetensors export). */
export function toTorchTensors(values: Map<string, Float32Array>, cfg: UNetConfig): NamedArray[] {
  return paramSpecs(cfg).map((s) => {
    const v = values.get(s.name);
    if (!v) throw new Error(`missing parameter ${s.name}`);
    return { name: s.name, shape: s.torchShape, data: tfjsToTorch(s, v) };
  });
}
