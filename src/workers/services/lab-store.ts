/**
 * The training lab's IndexedDB storage (worker side): database 'diffusion-lab' with two object
 * stores,
 *   'checkpoints': per run, a small meta record under `<runId>` (what the resume offer and the
 *                  list show) and the heavy part under `<runId>:data` (the trainer checkpoint in
 *                  the project's weights format, plus the reader's own images when the run used
 *                  them), written together in one transaction;
 *   'weights':     EMA weights {manifest, shards} handed to the generation demo (the model worker
 *                  reads them by key, through readWeights).
 * This module is the only code that opens the database.
 * Storage failures keep their DOM name (QuotaExceededError) and get a message a reader can act on,
 * so the page can report them instead of losing them.
 */

import type { CheckpointMeta } from '../../contracts/train.ts';

export const DB_NAME = 'diffusion-lab';
export const CHECKPOINTS = 'checkpoints';
export const WEIGHTS = 'weights';
const DATA_SUFFIX = ':data';

export interface CheckpointData {
  manifest: unknown;
  shards: Uint8Array[];
  /** The reader's own images (N×3072 CHW) when the run trained on them. */
  images?: Uint8Array;
}

export interface StoredWeights {
  manifest: unknown;
  shards: Uint8Array[];
  label: string;
  savedAt: number;
}

function named(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

/** A storage error as the page should see it (quota errors keep their name). */
export function storageError(err: unknown, what: string): Error {
  const e = err as DOMException | Error | null;
  const name = e?.name ?? 'Error';
  if (name === 'QuotaExceededError') {
    return named(
      'QuotaExceededError',
      `${what} failed: the browser's storage quota for this site is full (QuotaExceededError). ` +
        'Delete older saved checkpoints below, free disk space, or download the weights instead.',
    );
  }
  return named(name, `${what} failed: ${e?.message || name}`);
}

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/**
 * Opens the database with both stores. An older build's model worker may have created it first
 * (an open without a version creates an empty version-1 database), so missing stores are added
 * with a version bump rather than assumed from version 1.
 */
export async function openLabDb(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') throw named('NotSupportedError', 'this browser offers no IndexedDB here, so checkpoints cannot be saved');
  const open = (version?: number) =>
    new Promise<IDBDatabase>((resolve, reject) => {
      const r = version === undefined ? indexedDB.open(DB_NAME) : indexedDB.open(DB_NAME, version);
      r.onupgradeneeded = () => {
        const db = r.result;
        for (const s of [CHECKPOINTS, WEIGHTS]) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(storageError(r.error, 'opening the lab\'s storage (IndexedDB)'));
      r.onblocked = () => reject(named('InvalidStateError', 'the lab\'s storage is being upgraded in another tab; close other tabs of this page and try again'));
    });
  let db = await open();
  if (!db.objectStoreNames.contains(CHECKPOINTS) || !db.objectStoreNames.contains(WEIGHTS)) {
    const v = db.version + 1;
    db.close();
    db = await open(v);
  }
  // Another tab upgrading the database: let it, we reopen next time.
  db.onversionchange = () => db.close();
  return db;
}

async function withDb<T>(fn: (db: IDBDatabase) => Promise<T>): Promise<T> {
  const db = await openLabDb();
  try {
    return await fn(db);
  } finally {
    db.close();
  }
}

/** Resolves when the transaction commits; rejects with the transaction's error (quota!) otherwise. */
function done(tx: IDBTransaction, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(storageError(tx.error ?? named('AbortError', 'transaction aborted'), what));
    tx.onerror = (ev) => {
      ev.preventDefault(); // handled by onabort
    };
  });
}

export function saveCheckpoint(meta: CheckpointMeta, data: CheckpointData): Promise<void> {
  return withDb(async (db) => {
    const tx = db.transaction(CHECKPOINTS, 'readwrite');
    const finished = done(tx, `saving the checkpoint at step ${meta.step}`);
    const store = tx.objectStore(CHECKPOINTS);
    try {
      store.put(data, meta.key + DATA_SUFFIX);
      store.put(meta, meta.key);
    } catch (e) {
      try {
        tx.abort();
      } catch {
        /* already finished */
      }
      throw storageError(e, `saving the checkpoint at step ${meta.step}`);
    }
    await finished;
  });
}

export function listCheckpoints(): Promise<CheckpointMeta[]> {
  return withDb(async (db) => {
    const tx = db.transaction(CHECKPOINTS, 'readonly');
    const store = tx.objectStore(CHECKPOINTS);
    const keys = (await req(store.getAllKeys())).filter((k): k is string => typeof k === 'string' && !k.endsWith(DATA_SUFFIX));
    const metas = await Promise.all(keys.map((k) => req(store.get(k)) as Promise<CheckpointMeta | undefined>));
    return metas.filter((m): m is CheckpointMeta => !!m && typeof m.step === 'number').sort((a, b) => b.savedAt - a.savedAt);
  });
}

export function readCheckpoint(key: string): Promise<{ meta: CheckpointMeta; data: CheckpointData }> {
  return withDb(async (db) => {
    const store = db.transaction(CHECKPOINTS, 'readonly').objectStore(CHECKPOINTS);
    const [meta, data] = await Promise.all([req(store.get(key)), req(store.get(key + DATA_SUFFIX))]);
    if (!meta || !data) throw named('NotFoundError', `no saved checkpoint "${key}" in this browser (it may have been deleted or cleared)`);
    return { meta: meta as CheckpointMeta, data: data as CheckpointData };
  });
}

export function deleteCheckpoint(key: string): Promise<void> {
  return withDb(async (db) => {
    const tx = db.transaction(CHECKPOINTS, 'readwrite');
    const finished = done(tx, `deleting checkpoint "${key}"`);
    tx.objectStore(CHECKPOINTS).delete(key);
    tx.objectStore(CHECKPOINTS).delete(key + DATA_SUFFIX);
    await finished;
  });
}

/** Stores weights under `key`, removing the lab's older weights (keys starting with `prefix`). */
export function saveWeights(key: string, value: StoredWeights, prefix: string): Promise<void> {
  return withDb(async (db) => {
    const tx = db.transaction(WEIGHTS, 'readwrite');
    const finished = done(tx, 'storing the weights for the generator');
    const store = tx.objectStore(WEIGHTS);
    const keys = await req(store.getAllKeys());
    for (const k of keys) if (typeof k === 'string' && k.startsWith(prefix) && k !== key) store.delete(k);
    store.put(value, key);
    await finished;
  });
}

function toBytes(x: unknown): Uint8Array {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new Error('a stored weights shard is not binary data');
}

/** The weights the lab stored under `key` for the generation demo (the model worker loads them). */
export function readWeights(key: string): Promise<{ manifest: unknown; shards: Uint8Array[] }> {
  return withDb(async (db) => {
    const rec = await req(db.transaction(WEIGHTS, 'readonly').objectStore(WEIGHTS).get(key)).catch((e: unknown) => {
      throw storageError(e, `reading saved weights "${key}"`);
    });
    if (!rec || typeof rec !== 'object') throw named('NotFoundError', `no saved weights named "${key}" in this browser (they may have been cleared)`);
    const r = rec as Partial<StoredWeights>;
    if (!r.manifest || !Array.isArray(r.shards)) throw new Error(`saved weights "${key}" are not in the expected {manifest, shards} form`);
    return { manifest: r.manifest, shards: r.shards.map(toBytes) };
  });
}
