/** Per-channel statistics and 8-bit quantisation of NHWC image batches in [-1, 1] (plain JS). */

export interface ChannelStats {
  /** Per channel (R, G, B), in [0, 1] units. */
  mean: [number, number, number];
  std: [number, number, number];
}

/** Mean and (population) std per channel over images [from, to), mapped from [-1, 1] to [0, 1]. */
export function channelStats(nhwc: Float32Array, from = 0, to = nhwc.length / 3072, size = 32): ChannelStats {
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  const px = size * size;
  for (let i = from * px; i < to * px; i++) {
    for (let c = 0; c < 3; c++) {
      const v = (nhwc[i * 3 + c] + 1) / 2;
      sum[c] += v;
      sq[c] += v * v;
    }
  }
  const count = (to - from) * px;
  const mean = sum.map((s) => s / count) as [number, number, number];
  const std = sq.map((s, c) => Math.sqrt(Math.max(0, s / count - mean[c] ** 2))) as [number, number, number];
  return { mean, std };
}

/** Clip to [-1, 1] and round to the 256 levels an 8-bit PNG holds (what a saved sample is). */
export function quantize8(nhwc: Float32Array): Float32Array {
  const out = new Float32Array(nhwc.length);
  for (let i = 0; i < nhwc.length; i++) {
    const v = Math.round((Math.max(-1, Math.min(1, nhwc[i])) + 1) * 127.5);
    out[i] = v / 127.5 - 1;
  }
  return out;
}

/** CIFAR-10 training-set pixel statistics in [0, 1] (R, G, B), measured over all 50,000 images. */
export const CIFAR_TRAIN_STATS: ChannelStats = { mean: [0.4913, 0.4821, 0.4465], std: [0.2452, 0.2428, 0.2606] };
