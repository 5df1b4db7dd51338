/**
 * Build-time (Node only) numbers about the shipped weights, for prose: the article and the docs
 * write `{facts.q('ddim20-eta1').swd}` or `{facts.small.steps}` instead of copying a number, so a
 * new snapshot of `public/weights/*\/weights.json` or `docs/quality.json` cannot leave the text
 * behind. `test/article-facts.test.ts` checks that numbers still written by hand in the article
 * match this data.
 *
 *   import { readFacts } from '../components/build-time/facts.ts';
 *   export const facts = readFacts();
 *   … the small network trained for {facts.small.stepsText} steps; DDIM 20 (η = 1) scores SWD {facts.q('ddim20-eta1').swd} …
 *
 * Every formatted figure uses the same rounding as the tables (SWD and KID to one decimal), so the
 * prose and the tables agree digit for digit. Missing data gives "n/a" rather than a failed build.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fmtInt, projectRoot, readWeightsInfo, type WeightsFolderId } from './weights-info.ts';
import { lineageTotals, trainingStages } from '../../core/weights/lineage.ts';
import { RECOMMENDED_GUIDANCE, RECOMMENDED_ROW_ID } from '../../core/sampling-defaults.ts';

export interface QualityRowFacts {
  id: string;
  label: string;
  /** SWD ×1e3, averaged over levels, one decimal ("100.4"). */
  swd: string;
  /** KID, one decimal ("13.6"), or "n/a". */
  kid: string;
  swdValue: number | null;
  kidValue: number | null;
  n: number | null;
  /** Guided rows: the share in the class asked for, as a percentage with one decimal ("41.8"), or "n/a". */
  inClass: string;
  /** The guidance scale of the row, or "n/a". */
  w: string;
}

export interface ModelFacts {
  exists: boolean;
  steps: number | null;
  /** "5,031". */
  stepsText: string;
  imagesSeen: number | null;
  imagesSeenText: string;
  /** One decimal ("12.9"). */
  epochsText: string;
  params: number | null;
  paramsText: string;
  /** Steps of the run this one was warm-started from (the full model starts from the small one). */
  warmStartSteps: number | null;
  /** Images the warm start saw, "643,392". */
  warmStartImagesText: string;
  /** Every earlier run in the chain, oldest first (steps, "643,392" images). */
  earlierRuns: { steps: number; stepsText: string; imagesText: string }[];
  /** Images over the whole chain, "1,234,567". */
  totalImagesText: string;
  /** Epochs, one decimal, of the runs in the chain that trained with class labels. */
  labelledEpochsText: string;
  /** The record's final loss (mean of the last 100 steps), three decimals. */
  finalLossText: string;
}

/** One arm of the recipe study (docs/study.json), formatted like the tables. */
export interface StudyArmFacts {
  arm: string;
  swd: string;
  kid: string;
  inClass: string;
  swdValue: number | null;
  kidValue: number | null;
  /** Held-out x̂0 error (clamped, when the file has it) at each probed ᾱ, as a ratio to the seed's recipe ("0.87"), keyed by ᾱ ("0.5"). */
  x0VsSeed: Record<string, string>;
  /** Training wall time in whole minutes. */
  minutes: string;
}

export interface StudyFacts {
  exists: boolean;
  /** "100,000". */
  imagesPerArmText: string;
  arms: Record<string, StudyArmFacts>;
  /** Arm ids sorted by SWD, best first. */
  bySwd: string[];
  /** Arm ids sorted by KID, best first. */
  byKid: string[];
  arm(id: string): StudyArmFacts;
}

export interface Facts {
  small: ModelFacts;
  full: ModelFacts;
  /** The quality table's rows by id (docs/quality.json). */
  quality: Record<string, QualityRowFacts>;
  /** Which weights the quality table scored, and after how many steps. */
  qualityWeights: { path: string | null; trainingSteps: number | null };
  /** A row by id; a missing row gives "n/a" figures (and the test flags prose that relies on it). */
  q(id: string): QualityRowFacts;
  /** The page's default sampler and guidance (RECOMMENDED_ROW_ID's row). */
  page: QualityRowFacts;
  /** The default sampler at another guidance scale w, or with no class ('uncond'): the table's sweep. */
  pageAt(w: number | 'uncond'): QualityRowFacts;
  study: StudyFacts;
}

const NA = 'n/a';
export const fmt1 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? NA : x.toFixed(1));

function modelFacts(id: WeightsFolderId, root: string): ModelFacts {
  const info = readWeightsInfo(id, root);
  const t = info.training;
  const w = (t as { warmStart?: { steps?: unknown; imagesSeen?: unknown } } | null)?.warmStart;
  const ws = w?.steps;
  return {
    exists: info.exists,
    steps: t ? t.steps : null,
    stepsText: t ? fmtInt(t.steps) : NA,
    imagesSeen: t ? t.imagesSeen : null,
    imagesSeenText: t ? fmtInt(t.imagesSeen) : NA,
    epochsText: t ? fmt1(t.epochs) : NA,
    params: info.params,
    paramsText: info.params === null ? NA : fmtInt(info.params),
    warmStartSteps: typeof ws === 'number' ? ws : null,
    warmStartImagesText: typeof w?.imagesSeen === 'number' ? fmtInt(w.imagesSeen) : NA,
    earlierRuns: t ? trainingStages(t).slice(0, -1).map((e) => ({ steps: e.steps, stepsText: fmtInt(e.steps), imagesText: fmtInt(e.imagesSeen) })) : [],
    totalImagesText: t ? fmtInt(lineageTotals(t).imagesSeen) : NA,
    labelledEpochsText: t ? fmt1(trainingStages(t).filter((e) => Number(e.recipe?.num_classes ?? e.recipe?.numClasses ?? 0) > 0).reduce((a, e) => a + e.epochs, 0)) : NA,
    finalLossText: typeof t?.finalLoss === 'number' ? t.finalLoss.toFixed(3) : NA,
  };
}

interface RawQualityRow { id?: unknown; label?: unknown; n?: unknown; swd?: { average?: unknown }; kid?: { kid?: unknown } | null; classAccuracy?: unknown; guidance?: unknown }

/** Reads the shipped weights' records and docs/quality.json; never throws. */
export function readFacts(root = projectRoot()): Facts {
  const quality: Record<string, QualityRowFacts> = {};
  let qualityWeights: Facts['qualityWeights'] = { path: null, trainingSteps: null };
  const qFile = path.join(root, 'docs', 'quality.json');
  if (fs.existsSync(qFile)) {
    try {
      const doc = JSON.parse(fs.readFileSync(qFile, 'utf8')) as { rows?: RawQualityRow[]; weights?: { path?: unknown; trainingSteps?: unknown } };
      for (const r of doc.rows ?? []) {
        if (typeof r.id !== 'string') continue;
        const swd = typeof r.swd?.average === 'number' ? r.swd.average : null;
        const kid = typeof r.kid?.kid === 'number' ? r.kid.kid : null;
        quality[r.id] = {
          id: r.id, label: typeof r.label === 'string' ? r.label : r.id,
          swd: fmt1(swd), kid: fmt1(kid), swdValue: swd, kidValue: kid, n: typeof r.n === 'number' ? r.n : null,
          inClass: typeof r.classAccuracy === 'number' ? fmt1(100 * r.classAccuracy) : NA,
          w: typeof r.guidance === 'number' ? String(r.guidance) : NA,
        };
      }
      qualityWeights = {
        path: typeof doc.weights?.path === 'string' ? doc.weights.path : null,
        trainingSteps: typeof doc.weights?.trainingSteps === 'number' ? doc.weights.trainingSteps : null,
      };
    } catch {
      /* an unreadable file reads as no rows */
    }
  }
  const q = (id: string): QualityRowFacts => quality[id] ?? { id, label: id, swd: NA, kid: NA, swdValue: null, kidValue: null, n: null, inClass: NA, w: NA };
  return {
    study: readStudy(root),
    small: modelFacts('small', root),
    full: modelFacts('full', root),
    quality,
    qualityWeights,
    q,
    page: q(RECOMMENDED_ROW_ID),
    pageAt: (w) => q(w === 'uncond' ? `${RECOMMENDED_ROW_ID}-uncond` : w === RECOMMENDED_GUIDANCE ? RECOMMENDED_ROW_ID : `${RECOMMENDED_ROW_ID}-w${w}`),
  };
}

interface RawStudyArm {
  arm?: unknown; swd?: unknown; kid?: unknown; class_accuracy?: unknown; train_wall_s?: unknown;
  heldout_x0_mse?: Record<string, unknown>; heldout_x0_mse_clipped?: Record<string, unknown>;
}
/** The error the samplers see (x̂0 clamped to [-1, 1]) when the file has it. */
const x0Errors = (a: RawStudyArm | undefined) => a?.heldout_x0_mse_clipped ?? a?.heldout_x0_mse;

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** docs/study.json (scripts/torch/study.py) as prose-ready figures; never throws. */
export function readStudy(root = projectRoot()): StudyFacts {
  const arms: Record<string, StudyArmFacts> = {};
  let imagesPerArm: number | null = null;
  const file = path.join(root, 'docs', 'study.json');
  if (fs.existsSync(file)) {
    try {
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { images_per_arm?: unknown; arms?: RawStudyArm[] };
      imagesPerArm = num(doc.images_per_arm);
      const raw = (doc.arms ?? []).filter((a) => typeof a.arm === 'string');
      const seed = raw.find((a) => a.arm === 'seed');
      for (const a of raw) {
        const x0VsSeed: Record<string, string> = {};
        for (const [level, v] of Object.entries(x0Errors(a) ?? {})) {
          const base = num(x0Errors(seed)?.[level]);
          const mine = num(v);
          x0VsSeed[level] = base && mine !== null ? (mine / base).toFixed(2) : NA;
        }
        const swd = num(a.swd);
        const kid = num(a.kid);
        const acc = num(a.class_accuracy);
        const wall = num(a.train_wall_s);
        arms[a.arm as string] = {
          arm: a.arm as string, swd: fmt1(swd), kid: fmt1(kid), swdValue: swd, kidValue: kid,
          inClass: acc === null ? NA : fmt1(100 * acc), x0VsSeed, minutes: wall === null ? NA : String(Math.round(wall / 60)),
        };
      }
    } catch {
      /* an unreadable file reads as no arms */
    }
  }
  const ranked = (key: 'swdValue' | 'kidValue') =>
    Object.values(arms).filter((a) => a[key] !== null).sort((a, b) => (a[key] as number) - (b[key] as number)).map((a) => a.arm);
  return {
    exists: Object.keys(arms).length > 0,
    imagesPerArmText: imagesPerArm === null ? NA : fmtInt(imagesPerArm),
    arms,
    bySwd: ranked('swdValue'),
    byKid: ranked('kidValue'),
    arm: (id) => arms[id] ?? { arm: id, swd: NA, kid: NA, inClass: NA, swdValue: null, kidValue: null, x0VsSeed: {}, minutes: NA },
  };
}
