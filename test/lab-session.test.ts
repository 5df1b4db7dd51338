/** The training lab's session client against a stand-in worker pool (no browser, no tfjs). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LabSession, TRANSITIONS, type LabState, type TrainPool } from '../src/components/lab/session-client.ts';
import type { CheckpointMeta, TrainProgress } from '../src/contracts/train.ts';

const abortError = () => Object.assign(new Error('cancelled'), { name: 'AbortError' });

/**
 * A worker that trains one step per tick until cancelled or done; `status` and `save` run after
 * a cancelled `start` has returned, as the real pool queues them. `calls` records the protocol.
 */
function fakePool(opts: { total?: number; saveFails?: boolean; startFails?: boolean } = {}) {
  const calls: string[] = [];
  let step = 0;
  let running: Promise<unknown> = Promise.resolve();
  const total = opts.total ?? 1000;
  const pool = {
    async run(method: string, _args?: unknown, o: { signal?: AbortSignal; onProgress?: (p: TrainProgress) => void } = {}) {
      calls.push(method);
      await running; // one task at a time, in order
      if (method === 'start') {
        if (opts.startFails) throw new Error('out of memory');
        const task = (async () => {
          o.onProgress?.({ kind: 'begin', run: { runId: 'run-1', step, totalSteps: total } as never, resumedFrom: null, losses: new Float32Array(), lossAvgs: new Float32Array(), backend: {} as never });
          while (step < total) {
            await new Promise((r) => setTimeout(r, 1));
            step++; // a step is never cut: the cancel is seen between steps
            if (o.signal?.aborted) throw abortError();
            o.onProgress?.({ kind: 'step', step, totalSteps: total, loss: 1 / step } as TrainProgress);
          }
          return { finished: true, step, totalSteps: total, saved: null, saveError: null };
        })();
        running = task.catch(() => {});
        return task;
      }
      if (method === 'status') return { step, losses: Float32Array.from({ length: step }, (_, i) => 1 / (i + 1)), lossAvgs: new Float32Array(step) };
      if (method === 'save') {
        if (opts.saveFails) throw Object.assign(new Error('storage full'), { name: 'QuotaExceededError' });
        return { step, savedAt: 1 } as CheckpointMeta;
      }
      throw new Error(`unexpected ${method}`);
    },
  };
  return { pool: pool as unknown as TrainPool, calls };
}

test('the transition table: every target is a state, and the pause path is the only way to paused', () => {
  const states = Object.keys(TRANSITIONS) as LabState[];
  for (const s of states) for (const t of TRANSITIONS[s]) assert.ok(states.includes(t), `${s} → ${t}`);
  assert.deepEqual(states.filter((s) => TRANSITIONS[s].includes('paused')), ['starting', 'pausing']);
  const lab = new LabSession(async () => fakePool().pool);
  assert.throws(() => lab.to('paused'), /no transition from idle to paused/);
});

test('a run trains to the end: starting → training → finished', async () => {
  const { pool } = fakePool({ total: 5 });
  const seen: LabState[] = [];
  const lab = new LabSession(async () => pool, (s) => seen.push(s));
  lab.to('starting');
  const steps: number[] = [];
  const out = await lab.train({ width: 0.25, batch: 8, lr: 1e-3, steps: 5, sampleEvery: 0 }, (p) => { if (p.kind === 'step') steps.push(p.step); });
  assert.equal(out.kind, 'finished');
  assert.deepEqual(seen, ['starting', 'training', 'finished']);
  assert.deepEqual(steps, [1, 2, 3, 4, 5]);
  assert.equal(lab.runId, 'run-1');
  assert.equal(lab.runStep, 5);
});

test('pause: abort, then status, then save, in that order, and the exact step the worker reached', async () => {
  const { pool, calls } = fakePool();
  const lab = new LabSession(async () => pool);
  lab.to('starting');
  let lastSeen = 0;
  const running = lab.train({ width: 0.25, batch: 8, lr: 1e-3, steps: 1000, sampleEvery: 0 }, (p) => { if (p.kind === 'step') lastSeen = p.step; });
  while (lastSeen < 3) await new Promise((r) => setTimeout(r, 1));
  const paused = await lab.pause('paused');
  assert.equal((await running).kind, 'paused');
  assert.deepEqual(calls, ['start', 'status', 'save']);
  assert.ok(paused && paused.step > lastSeen, 'the step in flight when cancelled counts');
  assert.equal(paused!.history!.losses.length, paused!.step);
  assert.equal(paused!.saved!.step, paused!.step);
  assert.equal(lab.state, 'paused');
  assert.equal(await lab.pause('paused'), null, 'nothing to pause twice');
  // Stopping a paused run asks the worker nothing.
  await lab.pause('stopped');
  assert.equal(lab.state, 'stopped');
  assert.deepEqual(calls, ['start', 'status', 'save']);
});

test('a failed save is reported, and the lab still settles paused', async () => {
  const { pool } = fakePool({ saveFails: true });
  const lab = new LabSession(async () => pool);
  lab.to('starting');
  let started = false;
  const running = lab.train({ width: 0.25, batch: 8, lr: 1e-3, steps: 1000, sampleEvery: 0 }, () => { started = true; });
  while (!started) await new Promise((r) => setTimeout(r, 1));
  await new Promise((r) => setTimeout(r, 5));
  const out = await lab.pause('stopped');
  await running;
  assert.equal((out!.saveError as Error).name, 'QuotaExceededError');
  assert.equal(out!.saved, null);
  assert.equal(lab.state, 'stopped');
});

test('a start that fails goes back to idle (no run yet); a worker restart resets from anywhere', async () => {
  const { pool } = fakePool({ startFails: true });
  const lab = new LabSession(async () => pool);
  lab.to('starting');
  const out = await lab.train({ width: 0.25, batch: 8, lr: 1e-3, steps: 10, sampleEvery: 0 }, () => {});
  assert.equal(out.kind, 'error');
  assert.equal(lab.state, 'idle');
  lab.to('starting');
  lab.reset();
  assert.equal(lab.state, 'idle');
  assert.equal(lab.active, false);
});
