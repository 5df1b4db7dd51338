/**
 * Shareable demo state: a demo's settings live in the page's query string, so a copied link
 * reproduces what the reader saw. Demos read their keys once when they start and write them with
 * history.replaceState on each change (no new history entries, the hash and other demos' keys
 * are kept).
 *
 *   const p = readUrlState();           // URLSearchParams of the current address
 *   const steps = intParam(p, 'steps', 1, 1000);   // null when absent or invalid
 *   writeUrlState({ sampler: 'ddim', steps: '20', class: null });   // null removes a key
 */
export function readUrlState(): URLSearchParams {
  return new URLSearchParams(location.search);
}

export function writeUrlState(values: Record<string, string | null>): void {
  const u = new URL(location.href);
  for (const [k, v] of Object.entries(values)) {
    if (v === null) u.searchParams.delete(k);
    else u.searchParams.set(k, v);
  }
  if (u.href !== location.href) history.replaceState(history.state, '', u);
}

/** A number within [min, max] (integers only when `int`), or null. */
export function numParam(p: URLSearchParams, key: string, min: number, max: number, int = false): number | null {
  const raw = p.get(key);
  if (raw === null || raw.trim() === '') return null;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) return null;
  return v;
}

/** Sets a <select> to `value` when it has an enabled option of that value; returns whether it did. */
export function selectParam(sel: HTMLSelectElement, value: string | null, refuse: string[] = []): boolean {
  if (value === null || refuse.includes(value)) return false;
  const opt = [...sel.options].find((o) => o.value === value);
  if (!opt || opt.disabled) return false;
  sel.value = value;
  return true;
}
