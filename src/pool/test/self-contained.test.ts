// The pool folder is meant to be copied into another site as it is: its library files may import
// only Comlink, Astro's types, Node built-ins (node.ts) and each other, never the site around them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const folder = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const SPECIFIER = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

/** Import specifiers of a file, leaving out its comments (their usage examples name other files). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...text.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2] ?? m[3]);
}

function allowed(spec: string, file: string): boolean {
  if (spec === 'comlink' || spec.startsWith('comlink/')) return true;
  if (spec === 'astro') return /import type \{[^}]*\} from 'astro'/.test(fs.readFileSync(file, 'utf8'));
  if (spec.startsWith('node:')) return true;
  if (spec.startsWith('./')) return fs.existsSync(path.join(folder, spec)); // a sibling in this folder
  return false;
}

test('the pool library imports only Comlink, Astro types, Node built-ins and its own files', () => {
  const files = fs.readdirSync(folder).filter((f) => /\.(ts|mts)$/.test(f)).map((f) => path.join(folder, f));
  assert.ok(files.length >= 5, `expected the library files in ${folder}`);
  const bad = files.flatMap((f) => importsOf(f).filter((s) => !allowed(s, f)).map((s) => `${path.basename(f)}: ${s}`));
  assert.deepEqual(bad, []);
});

test('the import scanner sees static, re-export and dynamic imports', () => {
  const tmp = path.join(fs.mkdtempSync(path.join(folder, 'test', '.scan-')), 'x.ts');
  try {
    fs.writeFileSync(tmp, "/** import a from 'doc'; */\nimport a from '../../core/x.ts';\n// import b from 'note';\nexport * from './y.ts';\nconst m = await import('z');\nimport 'side';\n");
    assert.deepEqual(importsOf(tmp), ['../../core/x.ts', './y.ts', 'z', 'side']);
  } finally {
    fs.rmSync(path.dirname(tmp), { recursive: true });
  }
});
