/**
 * The source's import graph, read as text (no bundler): which modules a file imports, and
 * everything a set of entry points reaches at run time. Used by the layering tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ImportRef {
  specifier: string;
  /** `import type …` / `export type …`: erased at build time, so no run-time edge. */
  typeOnly: boolean;
}

const STATIC = /^\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]/gm;
const BARE = /^\s*import\s+['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Comments removed, so usage examples in doc comments do not count as imports. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** The imports of some TypeScript/JavaScript source text. */
export function importsOf(text: string): ImportRef[] {
  const src = code(text);
  const out: ImportRef[] = [];
  for (const m of src.matchAll(STATIC)) out.push({ specifier: m[4], typeOnly: Boolean(m[2]) });
  for (const m of src.matchAll(BARE)) out.push({ specifier: m[1], typeOnly: false });
  for (const m of src.matchAll(DYNAMIC)) out.push({ specifier: m[1], typeOnly: false });
  return out;
}

/** The client scripts of an .astro file (what ships to the browser; the frontmatter runs at build time). */
export function astroClientScripts(text: string): string[] {
  return [...text.matchAll(/<script(?![^>]*\bis:inline)(?![^>]*type="application\/json")[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
}

/** A relative specifier resolved to a file, or null for a package (bare) specifier. */
export function resolveImport(from: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const p = path.resolve(path.dirname(from), specifier.replace(/\?.*$/, ''));
  for (const c of [p, `${p}.ts`, `${p}.mjs`, `${p}.js`, path.join(p, 'index.ts')]) if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  throw new Error(`${from}: cannot resolve '${specifier}'`);
}

export interface Reach {
  /** Source files reached (absolute paths). */
  files: Set<string>;
  /** Package specifiers reached, each with one file that imports it. */
  packages: Map<string, string>;
}

/**
 * Everything reached at run time from `entries` (files, or inline source with the file it stands
 * in), following value imports (static and dynamic) and never type-only ones.
 */
export function runtimeReach(entries: { file: string; text?: string }[]): Reach {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const visit = (file: string, text: string) => {
    for (const ref of importsOf(text)) {
      if (ref.typeOnly) continue;
      const target = resolveImport(file, ref.specifier);
      if (target === null) {
        if (!packages.has(ref.specifier)) packages.set(ref.specifier, file);
      } else if (!files.has(target)) {
        files.add(target);
        if (/\.(ts|mjs|js)$/.test(target)) visit(target, fs.readFileSync(target, 'utf8'));
      }
    }
  };
  for (const e of entries) visit(e.file, e.text ?? fs.readFileSync(e.file, 'utf8'));
  return { files, packages };
}

/** Files under `dir` (recursively) whose names match `pattern`. */
export function listFiles(dir: string, pattern: RegExp): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && pattern.test(d.name))
    .map((d) => path.join(d.parentPath, d.name));
}
