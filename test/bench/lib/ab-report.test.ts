/** Builds compared: medians, spread, the ratio rows and which figures moved beyond the spread. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareRows, figureStats, formatAbTable, median, relativeSpread, type AbFigure, type AbRow } from './ab-report.js';

const rate: AbFigure = { label: 'adds/s', better: 'higher', format: (v) => v.toFixed(0) };
const cpu: AbFigure = { label: 'µs/pkt', better: 'lower', format: (v) => v.toFixed(2) };

const row = (name: string, rounds: (number | null)[][]): AbRow => ({ label: `OpenIGD (${name})`, name, rounds });

test('median: the middle value, the mean of the middle two, null for none; input not reordered', () => {
  const v = [3, 1, 2];
  assert.equal(median(v), 2);
  assert.deepEqual(v, [3, 1, 2]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.equal(median([]), null);
});

test('figure stats skip rounds without a number; the spread needs two values and a positive median', () => {
  assert.deepEqual(figureStats([200, null, 100, 150]), { median: 150, min: 100, max: 200, measured: 3, of: 4 });
  assert.equal(relativeSpread(figureStats([200, 100, 150])), 100 / 150);
  assert.equal(relativeSpread(figureStats([200, null])), null);
  assert.equal(relativeSpread(figureStats([0, 0])), null);
  assert.deepEqual(figureStats([null, Number.NaN]), { median: null, min: null, max: null, measured: 0, of: 2 });
});

test('a figure is worse, better or within the spread, by which way is better', () => {
  // base: 100, 110 (spread 10/105 ≈ 9.5 %); main: 80, 82 (≈ 2.5 %) → 0.77×, worse.
  const base = row('base', [[100, 2.0], [110, 2.1]]);
  const main = row('main', [[80, 2.5], [82, 2.6]]);
  const [adds, us] = compareRows([rate, cpu], base, main);
  assert.equal(adds!.ratio, 81 / 105);
  assert.equal(adds!.spread, 10 / 105);
  assert.equal(adds!.verdict, 'worse');
  assert.equal(us!.verdict, 'worse', 'more CPU per packet is worse');
  const faster = compareRows([rate, cpu], base, row('main', [[130, 1.5], [131, 1.6]]));
  assert.deepEqual(faster.map((c) => c.verdict), ['better', 'better']);
  const same = compareRows([rate, cpu], base, row('main', [[98, 2.1], [106, 2.0]]));
  assert.deepEqual(same.map((c) => c.verdict), ['within', 'within']);
  const once = compareRows([rate], row('base', [[100]]), row('main', [[50]]));
  assert.deepEqual(once[0], {
    figure: 'adds/s', ratio: 0.5, spread: null, verdict: null, paired: { median: 0.5, min: 0.5, max: 0.5, measured: 1, of: 1 }, worseEveryRound: false,
  }, 'one round: no spread, no verdict');
  assert.deepEqual(adds!.paired, { median: (0.8 + 82 / 110) / 2, min: 82 / 110, max: 0.8, measured: 2, of: 2 });
  assert.equal(adds!.worseEveryRound, true);
  assert.equal(us!.worseEveryRound, true);
  assert.deepEqual(faster.map((c) => c.worseEveryRound), [false, false]);
  const mixed = compareRows([rate], row('base', [[100], [100], [null]]), row('main', [[90], [110], [50]]));
  assert.deepEqual(mixed[0]!.paired, { median: 1, min: 0.9, max: 1.1, measured: 2, of: 3 }, 'a round one side did not measure is left out');
  assert.equal(mixed[0]!.worseEveryRound, false);
});

test('the table: a row per build, the ratio row, the spread row and the verdict', () => {
  const text = formatAbTable('OpenIGD, offload on, median', [rate, cpu], [
    row('base', [[100, 2.0], [110, 2.1], [105, 2.05]]),
    row('main', [[80, 2.5], [null, 2.6], [82, 2.55]]),
  ]);
  const lines = text.split('\n');
  assert.match(lines[0]!, /^OpenIGD, offload on, median +\| +adds\/s \| +µs\/pkt$/);
  assert.match(lines[2]!, /^OpenIGD \(base\) +\| +105 \| +2\.05$/);
  assert.match(lines[3]!, /^OpenIGD \(main\) +\| +81 \(2 of 3\) \| +2\.55$/);
  assert.match(lines[4]!, /^main \/ base +\| +0\.77× \| +1\.24×$/);
  assert.match(lines[5]!, /^ {2}paired by round, median +\| 0\.79× \(0\.78×–0\.80×\) \| 1\.24× \(1\.24×–1\.25×\)$/);
  assert.match(lines[6]!, /^spread \(max−min\)\/median +\| +10% \| +5%$/);
  assert.equal(lines[7], 'main / base: WORSE beyond the run-to-run spread: adds/s 0.77× (spread 10%), µs/pkt 1.24× (spread 5%); '
    + 'worse in every paired round: adds/s (0.78×–0.80×), µs/pkt (1.24×–1.25×)');
  assert.equal(lines.length, 8);
  assert.ok(lines.slice(1, 7).every((l) => l.indexOf('|') === lines[0]!.indexOf('|')), 'the first column is aligned');
});

test('better and unjudged figures are named; a build with no number shows n/a', () => {
  const text = formatAbTable('t', [rate, cpu], [row('a', [[100, 2], [100, 2]]), row('b', [[200, 2], [200, null]]), row('c', [[], []])]);
  assert.match(text, /^OpenIGD \(c\) +\| +n\/a \| +n\/a$/m);
  assert.match(text, /^b \/ a +\| +2\.00× \| +1\.00×$/m);
  assert.match(text, /^c \/ a +\| +n\/a \| +n\/a$/m);
  assert.match(text, /^spread \(max−min\)\/median +\| +n\/a \| +n\/a$/m, 'no spread while a build has none');
  assert.match(text, /^b \/ a: no figure worse beyond the run-to-run spread; better beyond it: adds\/s 2\.00× \(spread 0%\); not judged \(fewer than 2 rounds measured\): µs\/pkt$/m);
  assert.match(text, /^c \/ a: no figure worse beyond the run-to-run spread; not judged \(fewer than 2 rounds measured\): adds\/s, µs\/pkt$/m);
  assert.ok(!/NaN|undefined|Infinity/.test(text));
});

test('one build: its medians and spread, no ratio and no verdict', () => {
  const lines = formatAbTable('t', [rate], [row('this', [[100], [120]])]).split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[2]!, /^OpenIGD \(this\) +\| +110$/);
  assert.match(lines[3]!, /^spread \(max−min\)\/median +\| +18%$/);
});
