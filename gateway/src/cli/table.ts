/**
 * Plain aligned text tables, as `ip` and `conntrack` print: a header of upper-case
 * column names, then one row per item, columns padded to their widest cell and two
 * spaces apart; numbers right-aligned. No colours, no borders: greppable, and stable
 * enough to read in a test.
 */

export interface Column<T> {
  readonly title: string;
  readonly cell: (row: T) => string | number;
}

/** The table of `rows` under `columns`; just the header when there are no rows. */
export function renderTable<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const cells = rows.map((r) => columns.map((c) => c.cell(r)));
  const numeric = columns.map((_, i) => cells.length > 0 && cells.every((row) => typeof row[i] === 'number'));
  const text = [columns.map((c) => c.title.toUpperCase()), ...cells.map((row) => row.map(String))];
  const widths = columns.map((_, i) => Math.max(...text.map((row) => row[i]!.length)));
  return text.map((row) => row.map((cell, i) => {
    if (i === row.length - 1 && !numeric[i]) return cell;
    return numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
  }).join('  ').trimEnd()).join('\n') + '\n';
}

/** `key  value` lines, keys padded to the longest: for one object's fields. */
export function renderFields(fields: readonly (readonly [string, string | number | boolean])[]): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${k.padEnd(width)}  ${String(v)}`.trimEnd()).join('\n') + '\n';
}

/** Seconds as a short duration: `45s`, `12m03s`, `2h05m`, `3d04h`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`;
}
