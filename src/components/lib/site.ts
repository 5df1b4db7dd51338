/** URLs of the site's static assets, relative to the deploy base (works under a sub-path). */
import { SHIPPED_MODELS, shippedWeightsPath, type ShippedModelId } from '../../core/shipped-models.ts';
import { DATA_FOLDER, DATA_MANIFEST_FILE } from '../../core/data/manifest.ts';

const BASE = (import.meta.env.BASE_URL ?? '/').replace(/\/?$/, '/');

export const url = (p: string) => `${BASE}${p.replace(/^\//, '')}`;

/** Shipped weights folders under public/weights (each has weights.json, shards, loss.json). */
export const WEIGHTS = Object.fromEntries(
  (Object.keys(SHIPPED_MODELS) as ShippedModelId[]).map((id) => [id, { dir: url(shippedWeightsPath(id)), label: SHIPPED_MODELS[id].label }]),
) as Record<ShippedModelId, { dir: string; label: string }>;
export type WeightsId = ShippedModelId;

/** CIFAR-10 subset the build copies from the data folder (see scripts/build-data.ts). */
export const DATA_MANIFEST = url(`${DATA_FOLDER}${DATA_MANIFEST_FILE}`);
