/**
 * The models this repository ships (public/weights/<folder>/: weights.json, shards, loss.json).
 * The site's pickers and build-time records, the CLI's defaults and the benchmark all read this
 * list, so adding or renaming one is one edit here.
 */

export const SHIPPED_MODELS = {
  small: { folder: 'simple-unet-small', width: 0.25, label: 'SimpleUNet small (width 0.25, 1.5 M parameters)', shortName: 'small (width 0.25)' },
  full: { folder: 'simple-unet', width: 1, label: "SimpleUNet (the seed's 16.8 M-parameter network)", shortName: 'full-width (16.8 M parameters)' },
} as const;

export type ShippedModelId = keyof typeof SHIPPED_MODELS;

/** The model the page samples from first and the CLI uses when --weights is not given. */
export const DEFAULT_MODEL: ShippedModelId = 'small';

/** A model's folder relative to the site's base and to public/ ("weights/simple-unet-small/"). */
export function shippedWeightsPath(id: ShippedModelId): string {
  return `weights/${SHIPPED_MODELS[id].folder}/`;
}

/** A model's folder in the repository, as the CLI takes it ("public/weights/simple-unet-small"). */
export function shippedWeightsDir(id: ShippedModelId): string {
  return `public/weights/${SHIPPED_MODELS[id].folder}`;
}

/** The shipped model of a network width, if there is one. */
export function shippedModelOfWidth(width: number): ShippedModelId | null {
  const hit = (Object.keys(SHIPPED_MODELS) as ShippedModelId[]).find((id) => SHIPPED_MODELS[id].width === width);
  return hit ?? null;
}
