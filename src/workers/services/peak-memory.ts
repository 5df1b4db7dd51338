/**
 * The peak of tf.memory().numBytes between reset() and now, at no cost per kernel: the engine
 * keeps its running byte count in `engine.state.numBytes`, which becomes an accessor for the
 * length of a measurement (tf.profile would time every kernel instead, slowly on GPUs). Used by
 * the training lab's worker and the benchmark worker. Null if this tfjs build keeps the count
 * elsewhere.
 */
import * as tf from '@tensorflow/tfjs-core';

export function peakTracker(): { reset(): void; readonly peak: number; stop(): void } | null {
  const state = (tf.engine() as unknown as { state?: { numBytes?: number } }).state;
  const desc = state && Object.getOwnPropertyDescriptor(state, 'numBytes');
  if (!state || !desc || !desc.writable || typeof desc.value !== 'number') return null;
  let value = desc.value as number;
  let peak = value;
  Object.defineProperty(state, 'numBytes', {
    configurable: true, enumerable: true,
    get: () => value,
    set: (v: number) => {
      value = v;
      if (v > peak) peak = v;
    },
  });
  return {
    reset: () => void (peak = value),
    get peak() {
      return peak;
    },
    stop: () => Object.defineProperty(state, 'numBytes', { value, writable: true, configurable: true, enumerable: true }),
  };
}
