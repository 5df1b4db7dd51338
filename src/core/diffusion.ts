/**
 * The forward process and the training objective, as tensor ops over a Schedule.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Schedule } from './schedule.ts';

/** What the network is trained to output: the noise ε (the seed's), or v = √ᾱ·ε − √(1−ᾱ)·x₀. */
export type Prediction = 'epsilon' | 'v';

function coef(values: number[]): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1], 'float32');
}

/** q(x_t | x_0): √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, one t per image (diffusers' `add_noise`). */
export function addNoise(s: Schedule, x0: tf.Tensor4D, noise: tf.Tensor4D, t: ArrayLike<number>): tf.Tensor4D {
  return tf.tidy(() => {
    const ab = Array.from(t, (ti) => s.alphasCumprod[ti]);
    return tf.add(tf.mul(coef(ab.map(Math.sqrt)), x0), tf.mul(coef(ab.map((a) => Math.sqrt(1 - a))), noise));
  });
}

/** The same q(x_t | x_0) in plain JS (no tfjs) for one t; lives in plain.ts so the light worker can use it without tfjs. */
export { addNoiseValues } from './plain.ts';

/** The regression target for a prediction type. */
export function target(s: Schedule, prediction: Prediction, x0: tf.Tensor4D, noise: tf.Tensor4D, t: ArrayLike<number>): tf.Tensor4D {
  if (prediction === 'epsilon') return noise.clone();
  return tf.tidy(() => {
    const ab = Array.from(t, (ti) => s.alphasCumprod[ti]);
    return tf.sub(tf.mul(coef(ab.map(Math.sqrt)), noise), tf.mul(coef(ab.map((a) => Math.sqrt(1 - a))), x0));
  });
}

/**
 * Turns a network output at noise level ᾱ into (ε̂, x̂₀). Scalars, because every image in
 * a sampling batch sits at the same t.
 */
export function splitPrediction(prediction: Prediction, out: tf.Tensor, x: tf.Tensor, alphaBar: number): { eps: tf.Tensor; x0: tf.Tensor } {
  return tf.tidy(() => {
    const a = Math.sqrt(alphaBar);
    const b = Math.sqrt(1 - alphaBar);
    if (prediction === 'epsilon') return { eps: out.clone(), x0: tf.div(tf.sub(x, tf.mul(out, b)), a) };
    return { eps: tf.add(tf.mul(x, b), tf.mul(out, a)), x0: tf.sub(tf.mul(x, a), tf.mul(out, b)) };
  });
}
