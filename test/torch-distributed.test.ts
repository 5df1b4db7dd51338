/**
 * Training beyond one process: scripts/torch/test_distributed.py runs train.py and sample_dist.py
 * under torchrun (2 CPU processes, gloo) on a tiny network and checks them against one process
 * (same optimizer steps, resume across world sizes, the same samples). This runs it, then reads the
 * 2-process checkpoint with the project's importer. It needs PyTorch at /usr/bin/python3 (or
 * $TORCH_PYTHON): .ci/run installs Debian's python3-torch; without it the test says so and skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './helpers.ts';
import { loadTorchOrSafetensors } from '../src/core/weights/load-any.ts';
import { paramSpecs } from '../src/core/model.ts';

const PY = process.env.TORCH_PYTHON ?? '/usr/bin/python3';
const probe = spawnSync(PY, ['-c', 'import torch, torch.distributed as d; assert d.is_available()'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `PyTorch with torch.distributed is not importable by ${PY} (apt-get install python3-torch, as .ci/run does)`;
if (skip) console.log(`# torch-distributed: skipping: ${skip}`);

test('DDP on CPU (torchrun, 2 processes): same steps as one process, resume across world sizes, same samples', { skip, timeout: 600_000 }, () => {
  const keep = fs.mkdtempSync(path.join(os.tmpdir(), 'ddp-keep-'));
  try {
    const t0 = Date.now();
    const r = spawnSync(PY, ['-m', 'unittest', 'scripts/torch/test_distributed.py', '-v'], {
      cwd: ROOT, encoding: 'utf8', timeout: 540_000, env: { ...process.env, DDP_TEST_KEEP: keep },
    });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    assert.equal(r.status, 0, `scripts/torch/test_distributed.py failed (${r.signal ?? r.status}):\n${out.slice(-6000)}`);
    assert.match(out, /Ran 3 tests/);
    console.log(`# torch-distributed: python tests passed in ${((Date.now() - t0) / 1000).toFixed(1)}s`);

    // The 2-process checkpoint is an ordinary train.py checkpoint to the importer.
    const file = path.join(keep, 'ddp-ckpt.pt');
    const w = loadTorchOrSafetensors(new Uint8Array(fs.readFileSync(file)), file);
    assert.equal(w.source, 'ema_state_dict');
    assert.equal(w.config.width, 0.125);
    assert.equal(w.config.numClasses, 10);
    assert.deepEqual([...w.weights.keys()].sort(), paramSpecs({ ...w.config }).map((s) => s.name).sort());
    const tr = w.meta.training!;
    assert.equal(tr.steps, 3);
    assert.equal(tr.batchSize, 8);
    assert.match(tr.hardware, /2 DDP processes, gloo/);
    assert.match(tr.command, /^torchrun --nnodes=1 --nproc_per_node=2 \S*scripts\/torch\/train\.py /);
  } finally {
    fs.rmSync(keep, { recursive: true, force: true });
  }
});
