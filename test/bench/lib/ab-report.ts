/**
 * Builds compared in one run (`--build`, lib/builds.ts): each figure's median over the
 * rounds per build, each later build over the first, the run-to-run spread, and which
 * figures moved by more than that spread. Pure: numbers in, text out; a figure not
 * measured is "n/a", never a made-up number.
 */

export interface AbFigure {
  readonly label: string;
  /** Which way is better: rates are 'higher', CPU per packet is 'lower'. */
  readonly better: 'higher' | 'lower';
  readonly format: (v: number) => string;
}

/** One build's figures: for each round, a value per figure (null where that round measured none). */
export interface AbRow {
  /** The row's label, e.g. "OpenIGD (base)". */
  readonly label: string;
  /** The build's name, for the ratio rows and verdicts: "main / base". */
  readonly name: string;
  readonly rounds: readonly (readonly (number | null)[])[];
}

export interface FigureStats {
  readonly median: number | null;
  readonly min: number | null;
  readonly max: number | null;
  /** Rounds with a value, of `of`. */
  readonly measured: number;
  readonly of: number;
}

/** The median of `values` (the mean of the middle two for an even count); null when empty. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function figureStats(values: readonly (number | null)[]): FigureStats {
  const got = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return {
    median: median(got), min: got.length ? Math.min(...got) : null, max: got.length ? Math.max(...got) : null, measured: got.length, of: values.length,
  };
}

/** (max − min) / median: how far the rounds of one build lie apart; null without two values or with a zero median. */
export function relativeSpread(s: FigureStats): number | null {
  return s.measured >= 2 && s.median !== null && s.median > 0 ? (s.max! - s.min!) / s.median : null;
}

export interface AbComparison {
  readonly figure: string;
  /** The later build's median over the first's. */
  readonly ratio: number | null;
  /** The larger relative spread of the two builds. */
  readonly spread: number | null;
  /** Which way the later build moved, when by more than the spread; 'within' otherwise, null without the numbers. */
  readonly verdict: 'worse' | 'better' | 'within' | null;
  /** The later build over the first round by round (runs made one after the other), for the rounds both measured. */
  readonly paired: FigureStats;
  /** True when the later build was worse in every one of at least 2 paired rounds. */
  readonly worseEveryRound: boolean;
}

function statsOf(row: AbRow, figure: number): FigureStats {
  return figureStats(row.rounds.map((r) => r[figure] ?? null));
}

/** `after` against `before`, figure by figure. */
export function compareRows(figures: readonly AbFigure[], before: AbRow, after: AbRow): AbComparison[] {
  return figures.map((f, i) => {
    const b = statsOf(before, i);
    const a = statsOf(after, i);
    const ratio = a.median !== null && b.median !== null && b.median > 0 ? a.median / b.median : null;
    const sb = relativeSpread(b);
    const sa = relativeSpread(a);
    const spread = sb === null || sa === null ? null : Math.max(sb, sa);
    let verdict: AbComparison['verdict'] = null;
    if (ratio !== null && spread !== null) {
      const up = ratio > 1 + spread;
      const down = ratio < 1 - spread;
      verdict = !up && !down ? 'within' : up === (f.better === 'higher') ? 'better' : 'worse';
    }
    const pairs = before.rounds.map((r, k) => {
      const x = r[i] ?? null;
      const y = after.rounds[k]?.[i] ?? null;
      return x !== null && y !== null && x > 0 ? y / x : null;
    });
    const paired = figureStats(pairs);
    const worseEveryRound = paired.measured >= 2 && (f.better === 'higher' ? paired.max! < 1 : paired.min! > 1);
    return { figure: f.label, ratio, spread, verdict, paired, worseEveryRound };
  });
}

const times = (r: number | null) => (r === null ? 'n/a' : `${r.toFixed(2)}×`);
const percent = (s: number | null) => (s === null ? 'n/a' : `${Math.round(s * 100)}%`);

function cell(s: FigureStats, format: (v: number) => string): string {
  if (s.median === null) return 'n/a';
  return s.measured < s.of ? `${format(s.median)} (${s.measured} of ${s.of})` : format(s.median);
}

/** One line per later build: the figures it is worse and better on beyond the spread. */
function verdictLine(before: AbRow, after: AbRow, comparisons: readonly AbComparison[]): string {
  const list = (v: 'worse' | 'better') => comparisons.filter((c) => c.verdict === v).map((c) => `${c.figure} ${times(c.ratio)} (spread ${percent(c.spread)})`);
  const worse = list('worse');
  const better = list('better');
  const unjudged = comparisons.filter((c) => c.verdict === null).map((c) => c.figure);
  const everyRound = comparisons.filter((c) => c.worseEveryRound).map((c) => `${c.figure} (${times(c.paired.min)}–${times(c.paired.max)})`);
  const parts = [
    worse.length ? `WORSE beyond the run-to-run spread: ${worse.join(', ')}` : 'no figure worse beyond the run-to-run spread',
    ...(everyRound.length ? [`worse in every paired round: ${everyRound.join(', ')}`] : []),
    ...(better.length ? [`better beyond it: ${better.join(', ')}`] : []),
    ...(unjudged.length ? [`not judged (fewer than 2 rounds measured): ${unjudged.join(', ')}`] : []),
  ];
  return `${after.name} / ${before.name}: ${parts.join('; ')}`;
}

/**
 * The table: a row per build (medians; "(k of n)" when some rounds measured nothing),
 * per later build its medians over the first's and, below, the median and range of its
 * round-by-round ratios (each round's runs were made one after the other, so these
 * cancel slow drift), the spread row, then the verdict lines.
 */
export function formatAbTable(title: string, figures: readonly AbFigure[], rows: readonly AbRow[]): string {
  const header = [title, ...figures.map((f) => f.label)];
  const table: string[][] = rows.map((r) => [r.label, ...figures.map((f, i) => cell(statsOf(r, i), f.format))]);
  const [first, ...later] = rows;
  const comparisons = first === undefined ? [] : later.map((r) => ({ row: r, c: compareRows(figures, first, r) }));
  for (const { row, c } of comparisons) {
    table.push([`${row.name} / ${first!.name}`, ...c.map((x) => times(x.ratio))]);
    table.push([`  paired by round, median`, ...c.map((x) => (x.paired.median === null ? 'n/a' : `${times(x.paired.median)} (${times(x.paired.min)}–${times(x.paired.max)})`))]);
  }
  const spreads = figures.map((_, i) => {
    const s = rows.map((r) => relativeSpread(statsOf(r, i)));
    return s.some((x) => x === null) ? null : Math.max(...(s as number[]));
  });
  table.push(['spread (max−min)/median', ...spreads.map(percent)]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...table.map(line)];
  for (const { row, c } of comparisons) out.push(verdictLine(first!, row, c));
  return out.join('\n');
}
