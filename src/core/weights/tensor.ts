/**
 * The framework-neutral tensor the checkpoint readers hand back: a dtype tag, a shape and a
 * row-major contiguous typed array. Every floating dtype (float16, bfloat16, float64) is
 * converted to float32 values; `dtype` still says what the file stored.
 */

export type TorchDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';

export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

export interface TorchTensor {
  readonly dtype: TorchDtype;
  readonly shape: number[];
  /** Row-major, contiguous, `numel(shape)` elements. Float dtypes hold float32 values; bool is 0/1 bytes. */
  readonly data: TensorData;
}

/** Bytes one element of `dtype` takes in a file. */
export const DTYPE_BYTES: Readonly<Record<TorchDtype, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isTorchTensor(x: unknown): x is TorchTensor {
  return x instanceof TorchTensorImpl;
}

/** The one class behind `TorchTensor`, so `isTorchTensor` is a cheap, exact check. */
export class TorchTensorImpl implements TorchTensor {
  constructor(
    readonly dtype: TorchDtype,
    readonly shape: number[],
    readonly data: TensorData,
  ) {}
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Files store little-endian data and typed arrays use the host's order; every JS host in use is LE. */
export function assertLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('weights: this reader needs a little-endian host');
}

/**
 * A view of `bytes` whose byteOffset is a multiple of `align`, so typed arrays can be laid over
 * it; copies only when the source is misaligned.
 */
export function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : bytes.slice();
}
