/**
 * The guidance defaults, in a module with no imports so that framework-free code (the goldens,
 * the e2e tests, page scripts) can read them without pulling in tfjs.
 */

/** The page's and the CLI's guidance scale w, chosen from the quality table (docs/quality.md). */
export const RECOMMENDED_GUIDANCE = 3;
export const GUIDANCE_RANGE = { min: 0, max: 10 } as const;
