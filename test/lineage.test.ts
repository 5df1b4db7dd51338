/** A network trained in several runs, each started from the one before (train.py --init-from): the record's chain. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_WARM_START_DEPTH, trainingFrom } from '../src/core/weights/load-any.ts';
import { lineageTotals, trainingStages } from '../src/core/weights/lineage.ts';

// What train.py writes: each --init-from keeps the source checkpoint's record, whose own warm_start nests inside.
const run = (step: number, lr: number, warm?: Record<string, unknown>) => ({
  step, images_seen: step * 128, epoch: (step * 128) / 50_000, wall_time_s: step, train_config: { batch: 128, lr },
  hardware: { cpu: 'AMD EPYC', threads: 1, torch: '1.13' }, commands: [['train.py', '--lr', String(lr)]],
  ...(warm ? { warm_start: warm } : {}),
});
const handOff = (r: Record<string, unknown>, method: string) => ({ ...r, from: 'runs/x/ckpt.pt', width: 0.25, method });

test('three runs behind the weights: stages oldest first, totals over the chain', () => {
  const uncond = run(5031, 1e-4);
  const cond = run(3066, 2e-4, handOff(uncond, 'zero class embedding added'));
  const last = trainingFrom(run(1500, 1e-3, handOff(cond, 'optimizer state fresh')), 'ckpt.pt')!;
  const stages = trainingStages(last);
  assert.deepEqual(stages.map((s) => s.steps), [5031, 3066, 1500]);
  assert.deepEqual(stages.map((s) => s.recipe?.lr), [1e-4, 2e-4, 1e-3]);
  // Each stage says how it took over the one before; the first has nothing to take over.
  assert.deepEqual(stages.map((s) => s.carriedOver?.method), [undefined, 'zero class embedding added', 'optimizer state fresh']);
  const tot = lineageTotals(last);
  assert.equal(tot.runs, 3);
  assert.equal(tot.steps, 5031 + 3066 + 1500);
  assert.equal(tot.imagesSeen, (5031 + 3066 + 1500) * 128);
  assert.ok(Math.abs(tot.epochs - tot.imagesSeen / 50_000) < 1e-9);
});

test('a single run is one stage; a hostile file cannot nest without end', () => {
  const one = trainingFrom(run(10, 1e-3), 'a.pt')!;
  assert.deepEqual(trainingStages(one).map((s) => s.steps), [10]);
  assert.equal(lineageTotals(one).runs, 1);
  let deep: Record<string, unknown> = run(1, 1e-4);
  for (let i = 0; i < 200; i++) deep = run(1, 1e-4, handOff(deep, 'm'));
  const rec = trainingFrom(deep, 'deep.pt')!;
  assert.equal(lineageTotals(rec).runs, MAX_WARM_START_DEPTH + 1);
  // Records from other tools may lack numbers: they count as zero, never NaN.
  const odd = { ...one, warmStart: { from: 'x', width: 0.25, method: 'm' } as never };
  assert.equal(lineageTotals(odd).imagesSeen, 1280);
});

test('import publishes no absolute paths of the build machine in the training record', async () => {
  const { withLocalPathsRelative } = await import('../src/cli/commands/convert.ts');
  const rec = { command: 'train.py --data /w/shared/data/cifar --out /w/repo/runs/a', recipe: { data: '/w/shared/data/cifar', other: '/etc/x' },
    warmStart: { from: '/w/repo/runs/a/ckpt.pt', recipe: { data: ['/w/repo/data'] } } };
  assert.deepEqual(withLocalPathsRelative(rec, '/w/repo'), {
    command: 'train.py --data ../shared/data/cifar --out runs/a', recipe: { data: '../shared/data/cifar', other: '/etc/x' },
    warmStart: { from: 'runs/a/ckpt.pt', recipe: { data: ['data'] } },
  });
});
