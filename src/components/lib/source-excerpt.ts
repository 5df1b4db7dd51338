/**
 * Build-time extraction of code excerpts from the project's real source files, so the article's
 * code cannot drift from the code that runs. Pure string work (the component reads the file).
 *
 *   symbol:        an exported or top-level declaration (function, class, const, let, type,
 *                  interface, enum) by name, with the doc comment (or // lines) right above it,
 *                  up to the line where its brackets close.
 *   start alone:   from the first line containing `start` to where the brackets opened there
 *                  close again (e.g. a nested `const res = (…) => { … };`).
 *   start + end:   from the first line containing `start` to the first line at or after it
 *                  containing `end`, both included.
 */

export interface Excerpt {
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  /** The lines, with their common indentation removed. */
  text: string;
}

export interface ExcerptQuery {
  symbol?: string;
  start?: string;
  end?: string;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Bracket depth change of each line, skipping strings, template literals, comments and (by a
 * heuristic good enough for formatted TypeScript) regex literals.
 */
export function lineDepths(lines: string[]): number[] {
  const deltas: number[] = [];
  let inBlockComment = false;
  let templateDepth: number[] = []; // brace depth at which each open `${` started
  let inTemplate = false;
  let braceDepth = 0;
  for (const line of lines) {
    let d = 0;
    let i = 0;
    let lastSignificant = '';
    while (i < line.length) {
      const c = line[i]!;
      const n = line[i + 1];
      if (inBlockComment) {
        if (c === '*' && n === '/') {
          inBlockComment = false;
          i += 2;
        } else i++;
        continue;
      }
      if (inTemplate) {
        if (c === '\\') {
          i += 2;
          continue;
        }
        if (c === '`') {
          inTemplate = false;
          lastSignificant = '`';
          i++;
          continue;
        }
        if (c === '$' && n === '{') {
          inTemplate = false;
          templateDepth.push(braceDepth);
          braceDepth++;
          i += 2;
          continue;
        }
        i++;
        continue;
      }
      if (c === '/' && n === '/') break;
      if (c === '/' && n === '*') {
        inBlockComment = true;
        i += 2;
        continue;
      }
      if (c === "'" || c === '"') {
        i++;
        while (i < line.length && line[i] !== c) i += line[i] === '\\' ? 2 : 1;
        i++;
        lastSignificant = c;
        continue;
      }
      if (c === '`') {
        inTemplate = true;
        i++;
        continue;
      }
      if (c === '/' && (lastSignificant === '' || '(,=:[!&|?{};+-*%<>~^'.includes(lastSignificant))) {
        // regex literal
        i++;
        let inClass = false;
        while (i < line.length) {
          const r = line[i]!;
          if (r === '\\') i += 2;
          else if (r === '[') (inClass = true), i++;
          else if (r === ']') (inClass = false), i++;
          else if (r === '/' && !inClass) break;
          else i++;
        }
        i++;
        lastSignificant = '/';
        continue;
      }
      if (c === '(' || c === '[' || c === '{') {
        d++;
        if (c === '{') braceDepth++;
      } else if (c === ')' || c === ']' || c === '}') {
        if (c === '}' && templateDepth.length && templateDepth[templateDepth.length - 1] === braceDepth - 1) {
          templateDepth.pop();
          braceDepth--;
          inTemplate = true;
          i++;
          continue;
        }
        d--;
        if (c === '}') braceDepth--;
      }
      if (!/\s/.test(c)) lastSignificant = c;
      i++;
    }
    deltas.push(d);
  }
  return deltas;
}

/** Index of the last line of the statement starting at line `from` (0-based). */
function statementEnd(lines: string[], from: number): number {
  const deltas = lineDepths(lines.slice(from));
  let depth = 0;
  let opened = false;
  for (let k = 0; k < deltas.length; k++) {
    depth += deltas[k]!;
    if (deltas[k] !== 0 || depth > 0) opened = true;
    const trimmed = lines[from + k]!.replace(/\/\/.*$/, '').trimEnd();
    if (depth <= 0 && (opened || /[;}]$/.test(trimmed)) && /[;})\]]$/.test(trimmed)) return from + k;
  }
  throw new Error(`could not find where the statement at line ${from + 1} ends`);
}

/** Start index of the doc comment / line comments directly above line `decl`. */
function leadingCommentStart(lines: string[], decl: number): number {
  let s = decl;
  const above = lines[decl - 1]?.trim() ?? '';
  if (above.endsWith('*/')) {
    let k = decl - 1;
    while (k >= 0 && !lines[k]!.trim().startsWith('/*')) k--;
    if (k >= 0) s = k;
  } else {
    while (s > 0 && lines[s - 1]!.trim().startsWith('//')) s--;
  }
  return s;
}

function dedent(lines: string[]): string {
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^[ \t]*/.exec(l)![0].length);
  const cut = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut).trimEnd()).join('\n');
}

export function extractExcerpt(source: string, q: ExcerptQuery, fileLabel = 'the file'): Excerpt {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  let from: number;
  let to: number;
  if (q.symbol) {
    const re = new RegExp(
      `^(export\\s+)?(default\\s+)?(declare\\s+)?(async\\s+)?(abstract\\s+)?(function\\*?|class|const|let|var|type|interface|enum)\\s+${escapeRe(q.symbol)}\\b`,
    );
    const decl = lines.findIndex((l) => re.test(l));
    if (decl < 0) throw new Error(`SourceExcerpt: no top-level declaration of "${q.symbol}" in ${fileLabel}`);
    from = leadingCommentStart(lines, decl);
    to = statementEnd(lines, decl);
  } else if (q.start) {
    const s = lines.findIndex((l) => l.includes(q.start!));
    if (s < 0) throw new Error(`SourceExcerpt: start marker ${JSON.stringify(q.start)} not found in ${fileLabel}`);
    from = s;
    if (q.end) {
      const e = lines.findIndex((l, i) => i >= s && l.includes(q.end!));
      if (e < 0) throw new Error(`SourceExcerpt: end marker ${JSON.stringify(q.end)} not found after line ${s + 1} in ${fileLabel}`);
      to = e;
    } else {
      to = statementEnd(lines, s);
    }
  } else {
    throw new Error('SourceExcerpt: give `symbol`, or `start` (and optionally `end`)');
  }
  return { startLine: from + 1, endLine: to + 1, text: dedent(lines.slice(from, to + 1)) };
}

/**
 * The same for Python (the PyTorch copy in scripts/torch/): `symbol` is a top-level `def` or
 * `class` (with its decorators), up to the last non-blank line indented deeper than it; or
 * `symbols`, several such blocks in a row (from the first one's start to the last one's end);
 * `start` + `end` work as for TypeScript.
 */
export function extractPythonExcerpt(source: string, q: ExcerptQuery & { symbols?: string[] }, fileLabel = 'the file'): Excerpt {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const block = (name: string): [number, number] => {
    const re = new RegExp(`^(async\\s+)?(def|class)\\s+${escapeRe(name)}\\b`);
    const decl = lines.findIndex((l) => re.test(l));
    if (decl < 0) throw new Error(`SourceExcerpt: no top-level def or class "${name}" in ${fileLabel}`);
    let from = decl;
    while (from > 0 && lines[from - 1]!.startsWith('@')) from--;
    let to = decl;
    for (let i = decl + 1; i < lines.length; i++) {
      const l = lines[i]!;
      if (l.trim() === '') continue;
      if (/^\s/.test(l)) to = i;
      else break;
    }
    return [from, to];
  };
  const names = q.symbols ?? (q.symbol ? [q.symbol] : []);
  if (names.length) {
    const spans = names.map(block);
    const from = Math.min(...spans.map((s) => s[0]));
    const to = Math.max(...spans.map((s) => s[1]));
    return { startLine: from + 1, endLine: to + 1, text: dedent(lines.slice(from, to + 1)) };
  }
  if (q.start && q.end) return extractExcerpt(source, q, fileLabel);
  throw new Error('SourceExcerpt: for Python give `symbol`, `symbols`, or `start` and `end`');
}
