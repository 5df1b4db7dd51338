/** URLs of the site's static assets, relative to the deploy base (works under a sub-path). */
const BASE = (import.meta.env.BASE_URL ?? '/').replace(/\/?$/, '/');

export const url = (p: string) => `${BASE}${p.replace(/^\//, '')}`;

/** Shipped weights folders under public/weights (each has weights.json, shards, loss.json). */
export const WEIGHTS = {
  small: { dir: url('weights/simple-unet-small/'), label: 'SimpleUNet small (width 0.25, 1.5 M parameters)' },
  full: { dir: url('weights/simple-unet/'), label: "SimpleUNet (the seed's 16.8 M-parameter network)" },
} as const;
export type WeightsId = keyof typeof WEIGHTS;

/** CIFAR-10 subset the build copies from the data folder (see scripts/build-data.ts). */
export const DATA_MANIFEST = url('data/cifar/manifest.json');
