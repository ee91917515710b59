/** The benchmarks' tables: aligned text for the console, Markdown for bench/results/, and their figures. */

/** Milliseconds with three significant digits or so: 0.123, 1.23, 12.3, 123. */
export const fmt = (ms: number): string =>
  ms < 1 ? ms.toFixed(3) : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);

/** A whole number with thousands separators: 10,000. */
export const count = (n: number): string => Math.round(n).toLocaleString("en-US");

/** Columns padded to their widest cell, two spaces apart, under a rule as wide as the table. */
export function textTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, c) => Math.max(...all.map((r) => (r[c] ?? "").length)));
  const line = (r: readonly string[]): string =>
    widths
      .map((w, c) => (c === widths.length - 1 ? (r[c] ?? "") : (r[c] ?? "").padEnd(w)))
      .join("  ")
      .trimEnd();
  const rule = "-".repeat(widths.reduce((sum, w) => sum + w, 0) + 2 * (widths.length - 1));
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/**
 * A Markdown table; a `|` in a cell is escaped, and an empty cell shows `empty` ("—" unless given, so
 * that a blank is not mistaken for a missing figure).
 */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  options: { readonly empty?: string } = {},
): string {
  const empty = options.empty ?? "—";
  const cell = (s: string): string => s.replaceAll("|", "\\|") || empty;
  return [
    `| ${headers.join(" | ")} |`,
    `|${headers.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${headers.map((_, c) => cell(r[c] ?? "")).join(" | ")} |`),
  ].join("\n");
}
