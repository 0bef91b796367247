// Data types and memory formats, with the codes of c10::ScalarType and c10::MemoryFormat.

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const codes: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};
const names = new Map<number, DType>(Object.entries(codes).map(([k, v]) => [v, k as DType]));

export function dtypeCode(d: DType): number {
  const code = codes[d];
  if (code === undefined) throw new Error(`unknown dtype '${String(d)}': expected one of ${Object.keys(codes).join(', ')}`);
  return code;
}

export function dtypeName(code: number): DType {
  const name = names.get(code);
  if (!name) throw new Error(`unsupported dtype code ${code}`);
  return name;
}

export function isFloatingPoint(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}

export type MemoryFormat = 'contiguous' | 'preserve' | 'channelsLast';
const memoryFormats: Record<MemoryFormat, number> = { contiguous: 0, preserve: 1, channelsLast: 2 };

export function memoryFormatCode(f: MemoryFormat): number {
  const code = memoryFormats[f];
  if (code === undefined) throw new Error(`unknown memory format '${String(f)}': expected contiguous, preserve or channelsLast`);
  return code;
}

export type Device = string; // 'cpu', 'cuda', 'cuda:1'
