/**
 * Class conditioning at sampling time: classifier-free guidance (Ho & Salimans 2022).
 *
 *   ε̂ = ε(x, t, ∅) + w · (ε(x, t, c) − ε(x, t, ∅))
 *
 * w = 1 is the plain conditional model, w = 0 the unconditional one, w > 1 pushes samples
 * toward what makes them look like class c. Both predictions come from ONE forward pass over a
 * doubled batch [x; x] with labels [c; ∅], so guidance costs a wider batch, not a second call.
 * The combination happens before the sampler sees the output, so every sampler (DDPM, the
 * seed's loop, DDIM, DPM-Solver++) is guided the same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nullLabel, type ParamLookup, type SimpleUNet } from './model.ts';
import type { Denoiser } from './generate.ts';
import { CLASS_NAMES } from './data/cifar.ts';

/** What to ask for: one label per image (null = any class), and the guidance scale w. */
export interface Conditioning {
  labels?: readonly (number | null)[];
  guidance?: number;
}

import { GUIDANCE_RANGE } from './sampling-defaults.ts';

/** "cat", "3" → 3; throws with the list of names otherwise. */
export function parseClass(s: string): number {
  const t = s.trim().toLowerCase();
  if (/^\d+$/.test(t) && Number(t) < CLASS_NAMES.length) return Number(t);
  const i = (CLASS_NAMES as readonly string[]).indexOf(t);
  if (i >= 0) return i;
  throw new Error(`unknown class '${s}': use 0–${CLASS_NAMES.length - 1} or one of ${CLASS_NAMES.join(', ')}`);
}

/** Checks labels and w against a network; returns the labels as int32 (null → the "no class" row). */
export function checkConditioning(model: Pick<SimpleUNet, 'config'>, n: number, c: Conditioning = {}): Int32Array | null {
  const w = c.guidance ?? 1;
  if (!Number.isFinite(w) || w < GUIDANCE_RANGE.min || w > GUIDANCE_RANGE.max) {
    throw new Error(`guidance must be a number in [${GUIDANCE_RANGE.min}, ${GUIDANCE_RANGE.max}], got ${c.guidance}`);
  }
  const K = model.config.numClasses;
  if (!c.labels || c.labels.every((l) => l === null)) return null;
  if (K === 0) throw new Error('these weights are unconditional (trained without class labels): they cannot be asked for a class');
  if (c.labels.length !== n) throw new Error(`${c.labels.length} class labels for ${n} images`);
  const out = new Int32Array(n);
  c.labels.forEach((l, i) => {
    if (l !== null && !(Number.isInteger(l) && l >= 0 && l < K)) throw new Error(`class label ${l} is not in 0..${K - 1}`);
    out[i] = l ?? nullLabel(model.config);
  });
  return out;
}

/**
 * The Denoiser that `generate` calls: unconditional, conditional, or guided in one doubled batch.
 * `p` evaluates other parameters through the same graph (e.g. the training lab's EMA copy).
 */
export function conditionedDenoiser(model: SimpleUNet, n: number, c: Conditioning = {}, p?: ParamLookup): Denoiser {
  const labels = checkConditioning(model, n, c);
  const w = c.guidance ?? 1;
  if (!labels) return (x, t) => model.forward(x, t, {}, p);
  if (w === 1) return (x, t) => tf.tidy(() => model.forward(x, t, { labels: tf.tensor1d(labels, 'int32') }, p));
  const doubled = new Int32Array(2 * n);
  doubled.set(labels);
  doubled.fill(nullLabel(model.config), n);
  return (x, t) =>
    tf.tidy(() => {
      const out = model.forward(tf.concat([x, x]), tf.concat([t, t]) as tf.Tensor1D, { labels: tf.tensor1d(doubled, 'int32') }, p);
      const [cond, uncond] = tf.split(out, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
      return tf.add(uncond, tf.mul(tf.sub(cond, uncond), w)) as tf.Tensor4D;
    });
}

/** Labels for a class grid: `perClass` images of each class in turn (row k = class k). */
export function classGridLabels(perClass: number, numClasses = CLASS_NAMES.length): number[] {
  return Array.from({ length: perClass * numClasses }, (_, i) => Math.floor(i / perClass));
}
