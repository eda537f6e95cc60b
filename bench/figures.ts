// How every benchmark reports: one printed line per figure, all of them collected for the JSON file.
export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The target it is held against, if any: `>=` or `<=` a number. */
  target?: { op: '>=' | '<='; value: number };
  note?: string;
}

export const figures: Figure[] = [];

export function report(f: Figure): void {
  figures.push(f);
  const met = f.target
    ? (f.target.op === '>=' ? f.value >= f.target.value : f.value <= f.target.value)
      ? '  ✓'
      : '  ✗ target ' + f.target.op + ' ' + f.target.value
    : '';
  const v = Number.isInteger(f.value) ? String(f.value) : f.value.toFixed(f.value < 10 ? 2 : 1);
  console.log(`${f.name}: ${v} ${f.unit}${met}${f.note ? `  (${f.note})` : ''}`);
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
