/**
 * The samplers' names and defaults, in a module with no imports so that framework-free code (the
 * contracts, page scripts, the goldens, the e2e tests) can read them without pulling in tfjs.
 */

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
export const RECOMMENDED_SAMPLING = { sampler: 'ddim' as const, steps: 20, eta: 1 };

/** The page's and the CLI's guidance scale w, chosen from the quality table (docs/quality.md). */
export const RECOMMENDED_GUIDANCE = 3;
export const GUIDANCE_RANGE = { min: 0, max: 10 } as const;
