/**
 * Places a document's manifest sections on its loaded blocks: a Markdown section is its heading and
 * everything under it up to the next heading of the same or a higher level; a PDF section is a range of
 * pages. Every block ends up in at most one section. Overlapping sections are rejected rather than nested:
 * a block in two sections would need two resources, and a chunk carries exactly one.
 */

import type { Block, StructuredDocument } from "./loaders/structured-document.ts";
import type { ManifestDocument, ManifestSection } from "./manifest.ts";
import { documentLabel } from "./manifest.ts";

/** A block and the manifest section it lies in, if any. */
export interface SectionedBlock extends Block {
  readonly sectionId?: string;
}

export type SectionPlacement =
  | { readonly ok: true; readonly blocks: readonly SectionedBlock[] }
  | { readonly ok: false; readonly problems: readonly string[] };

interface Span {
  readonly section: ManifestSection;
  readonly field: string;
  /** Block indexes [start, end). */
  readonly start: number;
  readonly end: number;
  /** How the span is described in an overlap error. */
  readonly describe: string;
}

export function placeSections(
  document: Pick<ManifestDocument, "id" | "index" | "path" | "sections">,
  structured: StructuredDocument,
): SectionPlacement {
  const problems: string[] = [];
  const spans: Span[] = [];
  for (const [index, section] of document.sections.entries()) {
    const field = `${documentLabel(document)}.sections[${index}]`;
    const span =
      section.heading !== undefined
        ? headingSpan(section, section.heading, field, structured, document.path, problems)
        : section.pages
          ? pageSpan(section, section.pages, field, structured, document.path, problems)
          : undefined;
    if (span) spans.push(span);
  }
  problems.push(...overlapProblems(spans));
  if (problems.length > 0) return { ok: false, problems };

  const sectionOf: (string | undefined)[] = structured.blocks.map(() => undefined);
  for (const span of spans) {
    for (let i = span.start; i < span.end; i++) sectionOf[i] = span.section.id;
  }
  const blocks = structured.blocks.map((block, i): SectionedBlock => {
    const sectionId = sectionOf[i];
    return sectionId === undefined ? block : { ...block, sectionId };
  });
  return { ok: true, blocks };
}

/** Headings match when equal after trimming, collapsing inner whitespace and ignoring case. */
export function normaliseHeading(heading: string): string {
  return heading.trim().replace(/\s+/g, " ").toLowerCase();
}

function headingSpan(
  section: ManifestSection,
  heading: string,
  field: string,
  structured: StructuredDocument,
  documentPath: string,
  problems: string[],
): Span | undefined {
  const wanted = normaliseHeading(heading);
  const matches: number[] = [];
  structured.blocks.forEach((block, index) => {
    if (block.kind === "heading" && normaliseHeading(block.heading ?? "") === wanted) matches.push(index);
  });
  const [start] = matches;
  if (start === undefined) {
    problems.push(`${field}.heading: heading "${heading}" not found in ${documentPath}`);
    return undefined;
  }
  if (matches.length > 1) {
    const lines = matches.map((i) => structured.blocks[i]?.line);
    // A DOCX is read through generated HTML, whose lines mean nothing to its owner: count the headings.
    const where = lines.every((line) => line !== undefined)
      ? `lines ${lines.join(", ")}`
      : `${matches.length} headings`;
    problems.push(`${field}.heading: heading "${heading}" is ambiguous in ${documentPath} (${where})`);
    return undefined;
  }
  const level = structured.blocks[start]?.level ?? 1;
  let end = start + 1;
  while (end < structured.blocks.length) {
    const block = structured.blocks[end] as Block;
    if (block.kind === "heading" && (block.level ?? 1) <= level) break;
    end++;
  }
  const line = structured.blocks[start]?.line;
  return { section, field, start, end, describe: `heading "${heading}"${line ? ` (line ${line})` : ""}` };
}

function pageSpan(
  section: ManifestSection,
  pages: { readonly first: number; readonly last: number },
  field: string,
  structured: StructuredDocument,
  documentPath: string,
  problems: string[],
): Span | undefined {
  const pageCount = structured.pageCount ?? 0;
  if (pages.last > pageCount) {
    problems.push(
      `${field}.pages: [${pages.first}, ${pages.last}] is out of bounds: ${documentPath} has ${pageCount} ${pageCount === 1 ? "page" : "pages"}`,
    );
    return undefined;
  }
  const inRange = (block: Block) => (block.page ?? 0) >= pages.first && (block.page ?? 0) <= pages.last;
  // Blocks are in page order, so the range's blocks are contiguous; a range without text spans nothing
  // (overlaps between page ranges are judged on the pages themselves).
  const start = Math.max(0, structured.blocks.findIndex(inRange));
  let end = start;
  while (end < structured.blocks.length && inRange(structured.blocks[end] as Block)) end++;
  return { section, field, start, end, describe: `pages ${pages.first}-${pages.last}` };
}

function overlapProblems(spans: readonly Span[]): string[] {
  const problems: string[] = [];
  for (let i = 0; i < spans.length; i++) {
    for (let j = i + 1; j < spans.length; j++) {
      const a = spans[i] as Span;
      const b = spans[j] as Span;
      if (overlaps(a, b)) {
        problems.push(
          `${b.field}: section "${b.section.id}" (${b.describe}) overlaps section "${a.section.id}" (${a.describe}); sections must not overlap or nest`,
        );
      }
    }
  }
  return problems;
}

function overlaps(a: Span, b: Span): boolean {
  if (a.section.pages && b.section.pages) {
    return a.section.pages.first <= b.section.pages.last && b.section.pages.first <= a.section.pages.last;
  }
  return a.start < b.end && b.start < a.end;
}
