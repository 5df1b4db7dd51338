/**
 * Content collections. The docs are MDX files in src/content/docs/ (glob loader); the article
 * is a single MDX file imported directly by src/pages/index.astro.
 */
import { defineCollection, z } from 'astro:content';
import { glob } from 'astro/loaders';

const docs = defineCollection({
  loader: glob({ pattern: '*.mdx', base: './src/content/docs' }),
  schema: z.object({
    title: z.string(),
    description: z.string(),
    /** Position in the docs index and sidebar. */
    order: z.number(),
  }),
});

export const collections = { docs };
