/**
 * The sampling settings: the samplers' names, the project's defaults, and the one function that
 * turns a request (sampler, steps, η, guidance …) into a checked, complete setting. No tfjs here,
 * so the contracts, page scripts, the CLI, the goldens and the e2e tests all read the same
 * defaults and limits.
 */
import { SEED_SCHEDULE } from './schedule.ts';

export type SamplerName = 'ddpm' | 'seed' | 'ddim' | 'dpmpp2m';

export const SAMPLER_INFO: Record<SamplerName, { label: string; defaultSteps: number }> = {
  seed: { label: "The seed's 50-step loop", defaultSteps: 50 },
  ddim: { label: 'DDIM', defaultSteps: 50 },
  ddpm: { label: 'DDPM (ancestral)', defaultSteps: 1000 },
  dpmpp2m: { label: 'DPM-Solver++(2M)', defaultSteps: 20 },
};

/**
 * The page's and the CLI's default sampler, picked from the quality table (docs/quality.md,
 * `diffusion eval --table`) for the shipped small weights.
 */
export const RECOMMENDED_SAMPLING = { sampler: 'ddim' as const, steps: 20, eta: 0.5 };

/** The quality table's row id for the page's default sampler ("ddim20-eta0.5"); its guidance sweep is `${id}-w${w}`. */
export const RECOMMENDED_ROW_ID = `${RECOMMENDED_SAMPLING.sampler}${RECOMMENDED_SAMPLING.steps}-eta${RECOMMENDED_SAMPLING.eta}`;

/** The page's and the CLI's guidance scale w, chosen from the quality table (docs/quality.md). */
export const RECOMMENDED_GUIDANCE = 2;
export const GUIDANCE_RANGE = { min: 0, max: 10 } as const;

/** Images a page or the CLI asks steps for at most: the shipped schedules' length T. */
export const MAX_SAMPLING_STEPS = SEED_SCHEDULE.T;
export const ETA_RANGE = { min: 0, max: 1 } as const;

/** A sampler's steps when none are asked for: the recommended setting's for its sampler, else the sampler's own. */
export function defaultSteps(sampler: SamplerName): number {
  return sampler === RECOMMENDED_SAMPLING.sampler ? RECOMMENDED_SAMPLING.steps : SAMPLER_INFO[sampler].defaultSteps;
}

/** What a caller asks for; anything left out takes the project's default. */
export interface SamplingRequest {
  sampler?: string;
  steps?: number;
  /** DDIM's η (0 deterministic, 1 DDPM's variance); the other samplers take none. */
  eta?: number;
  /** Clip x̂₀ to [−1, 1]; absent: the sampler's own default. */
  clipX0?: boolean;
  /** Classifier-free guidance w, used when a class is asked for. */
  guidance?: number;
}

/** A complete, checked sampling setting: what the sampler runs, read once, everywhere. */
export interface SamplingSetting {
  readonly sampler: SamplerName;
  readonly steps: number;
  readonly eta: number;
  readonly clipX0?: boolean;
  readonly guidance: number;
  /** The noise levels visited, from noisiest (the seed's spacing over the schedule's T). */
  readonly timesteps: readonly number[];
}

/** T−1, T−1−T/S, …: the seed's spacing (999, 979, …, 19 for S = 50). */
export function stridedTimesteps(T: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > T) throw new Error(`steps must be an integer in 1..${T}, got ${steps}`);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(Math.round(T - 1 - (i * T) / steps));
  return out;
}

/**
 * Turns a request into the setting the sampler runs, against a schedule of T noise levels: the
 * defaults filled in from one place, every number checked, the timesteps laid out. Throws one
 * sentence naming the first thing that is wrong.
 */
export function resolveSampling(req: SamplingRequest, T: number): SamplingSetting {
  const sampler = (req.sampler ?? RECOMMENDED_SAMPLING.sampler) as SamplerName;
  if (!Object.hasOwn(SAMPLER_INFO, sampler)) throw new Error(`unknown sampler '${req.sampler}' (use ${Object.keys(SAMPLER_INFO).join(', ')})`);
  const steps = req.steps ?? defaultSteps(sampler);
  const timesteps = stridedTimesteps(T, steps);
  const eta = sampler === 'ddim' ? req.eta ?? RECOMMENDED_SAMPLING.eta : 0;
  if (!(eta >= ETA_RANGE.min && eta <= ETA_RANGE.max)) throw new Error(`DDIM eta must be in [${ETA_RANGE.min}, ${ETA_RANGE.max}], got ${req.eta}`);
  const guidance = req.guidance ?? RECOMMENDED_GUIDANCE;
  if (!(guidance >= GUIDANCE_RANGE.min && guidance <= GUIDANCE_RANGE.max)) {
    throw new Error(`guidance must be a number in [${GUIDANCE_RANGE.min}, ${GUIDANCE_RANGE.max}], got ${req.guidance}`);
  }
  return { sampler, steps, eta, clipX0: req.clipX0, guidance, timesteps };
}
