/**
 * A shipped network is often the last of several runs, each started from the one before
 * (`train.py --init-from`): the record nests them under `warmStart`. These helpers flatten the
 * chain, oldest run first, so the page and the CLI can say what the weights cost in all.
 */
import type { TrainingRecord, WarmStart } from './format.ts';

export interface TrainingStage {
  steps: number;
  imagesSeen: number;
  epochs: number;
  batchSize: number;
  wallTimeS: number;
  hardware: string;
  command: string;
  recipe?: Record<string, unknown>;
  /** How this run took over the previous run's weights; absent for the first run. */
  carriedOver?: { from: string; width: number; method: string };
}

// Records come from files (other tools, older versions): a missing number counts as 0.
const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Every run behind the weights, oldest first; the record's own run is last. */
export function trainingStages(t: TrainingRecord): TrainingStage[] {
  const stages: TrainingStage[] = [];
  const stage = (r: TrainingRecord | WarmStart, via: WarmStart | undefined): TrainingStage => ({
    steps: n(r.steps), imagesSeen: n(r.imagesSeen), epochs: n(r.epochs) || n(r.imagesSeen) / 50_000, batchSize: n(r.batchSize) || 128,
    wallTimeS: n(r.wallTimeS), hardware: String(r.hardware ?? 'unrecorded'), command: String(r.command ?? 'unrecorded'), ...(r.recipe ? { recipe: r.recipe } : {}),
    ...(via ? { carriedOver: { from: via.from, width: via.width, method: via.method } } : {}),
  });
  stages.push(stage(t, t.warmStart));
  const seen = new Set<object>([t]);
  for (let w = t.warmStart; w && typeof w === 'object' && !seen.has(w); w = w.warmStart) {
    seen.add(w);
    stages.unshift(stage(w, w.warmStart));
  }
  return stages;
}

/** Steps, images and training time over the whole chain. */
export function lineageTotals(t: TrainingRecord): { runs: number; steps: number; imagesSeen: number; epochs: number; wallTimeS: number } {
  const s = trainingStages(t);
  const sum = (f: (x: TrainingStage) => number) => s.reduce((a, x) => a + f(x), 0);
  return { runs: s.length, steps: sum((x) => x.steps), imagesSeen: sum((x) => x.imagesSeen), epochs: sum((x) => x.epochs), wallTimeS: sum((x) => x.wallTimeS) };
}
