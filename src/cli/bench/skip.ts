/** Which benchmark cases to skip before running them (node-child.ts), and why. */
import { forwardFlops } from '../../core/flops.ts';
import { projectedPeakBytes, WASM_PEAK_LIMIT } from '../../core/wasm-heap.ts';
import type { CaseSpec } from './node-child.ts';

/**
 * Skips a case whose single call is projected to take longer than maxCallS: from the last case of
 * the same kind and width (per image), else of the same kind at another width (per FLOP, which
 * overestimates going up in width: wider layers run at a higher FLOP rate). Returns the note, or
 * null to run it.
 */
export function projectedSkip(done: { kind: string; width: number; batch: number; ms: { median: number } | null; peakBytes?: number }[], c: CaseSpec, maxCallS: number, deadline = Infinity, wasm = false): string | null {
  if (Date.now() > deadline) return 'skipped: out of the time budget (--budget)';
  // wasm's 32-bit heap: a case whose tensors cannot fit would abort the backend (and every case after it).
  const measured = wasm ? [...done].reverse().find((d) => d.kind === c.kind && d.width === c.width && d.batch < c.batch && d.peakBytes) : undefined;
  if (measured?.peakBytes) {
    const peak = projectedPeakBytes({ batch: measured.batch, peakBytes: measured.peakBytes }, c.batch);
    if (peak > WASM_PEAK_LIMIT) {
      return `skipped: needs ~${(peak / 2 ** 30).toFixed(1)} GiB of tensors at once (batch ${measured.batch} peaked at ${(measured.peakBytes / 2 ** 30).toFixed(2)} GiB), more than fits in wasm's 32-bit (4 GiB) heap`;
    }
  }
  const same = [...done].reverse().find((d) => d.kind === c.kind && d.width === c.width && d.ms);
  const prev = same ?? [...done].reverse().find((d) => d.kind === c.kind && d.ms);
  if (!prev?.ms) return null;
  const projected = (prev.ms.median / (prev.batch * forwardFlops({ width: prev.width }))) * c.batch * forwardFlops({ width: c.width }) / 1000;
  if (projected > maxCallS) return `skipped: projected ${projected.toFixed(0)} s per call (from width ${prev.width} batch ${prev.batch}) > --max-call ${maxCallS} s`;
  if (Date.now() + projected * 1000 * (c.warmup + 1) > deadline + 60_000) return `skipped: its projected ${(projected * (c.warmup + 1)).toFixed(0)} s would overrun the time budget (--budget)`;
  return null;
}
