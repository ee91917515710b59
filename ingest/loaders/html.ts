/**
 * HTML to blocks, read by an HTML5 parser (parse5 through hast-util-from-html) and rendered as text by the
 * `innerText` algorithm (hast-util-to-text): markup is never indexed, only what a reader of the page sees.
 *
 * Main content is chosen by the HTML standard's own marker, not by a heuristic: the document's single
 * `<main>` element when there is exactly one, else `<body>`. A readability-style extractor scores and drops
 * nodes, headings among them, and a dropped heading moves a section boundary; here what is dropped is fixed
 * and listed below, so a manifest section always means the heading the owner sees.
 *
 * What is never indexed and never structure: comments, `<script>`, `<style>`, `<template>`, `<noscript>`,
 * embedded content (`<iframe>`, `<object>`, `<embed>`, `<svg>`, `<canvas>`...), form controls, `<nav>`, and
 * every element hidden from the reader (the `hidden` attribute, or an inline style with `display: none`,
 * `visibility: hidden|collapse` or `content-visibility: hidden`). A hidden heading must not end a section:
 * the owner reading the page cannot see it, and the text after it would leave the section unseen.
 * Rules in style sheets are not evaluated (there is no CSS engine here); such text is indexed as content of
 * the section it is in, which never widens who reads it.
 *
 * Structure follows Markdown's: `<h1>`–`<h6>` outside lists, tables, quotes, `<pre>`, `<figure>`,
 * `<details>` and similar blocks are headings (levels 1–6); a heading inside one of those is content of that
 * block. Containers (`<div>`, `<section>`, `<article>`, `<header>`...) are walked through, so a heading
 * inside them is a document-level heading as a reader sees it. A heading without text is no boundary: it
 * neither starts nor ends a section, so the section before it runs on (narrower, never wider).
 */
import type { Element, ElementContent, Nodes, Root } from "hast";
import { fromHtml } from "hast-util-from-html";
import { toText } from "hast-util-to-text";
import styleToObject from "style-to-object";
import type { Block, BlockKind, DocumentFormat, StructuredDocument } from "./structured-document.ts";

/** Elements whose content is not the page's text, removed with everything inside them. */
const NOT_CONTENT = new Set([
  "head",
  "script",
  "style",
  "template",
  "noscript",
  "iframe",
  "frame",
  "frameset",
  "object",
  "embed",
  "svg",
  "math",
  "canvas",
  "audio",
  "video",
  "map",
  "select",
  "datalist",
  "option",
  "optgroup",
  "textarea",
  "button",
  "input",
  "nav",
]);

/** Containers walked through: their headings are document-level headings. */
const CONTAINERS = new Set([
  "html",
  "body",
  "main",
  "div",
  "section",
  "article",
  "header",
  "footer",
  "aside",
  "hgroup",
  "search",
  "form",
  "fieldset",
  "center",
]);

/** Blocks kept whole: a heading inside them is their content, as in a Markdown list item or quote. */
const BLOCKS: Readonly<Record<string, BlockKind>> = {
  p: "paragraph",
  address: "paragraph",
  figure: "paragraph",
  details: "paragraph",
  legend: "paragraph",
  pre: "code",
  listing: "code",
  xmp: "code",
  plaintext: "code",
  blockquote: "quote",
  ul: "list",
  ol: "list",
  dl: "list",
  menu: "list",
  table: "table",
};

const HEADING_LEVELS: Readonly<Record<string, number>> = { h1: 1, h2: 2, h3: 3, h4: 4, h5: 5, h6: 6 };

/** Breaks between blocks: nothing to index, but an inline run does not continue across them. */
const SEPARATORS = new Set(["hr", "br"]);

export interface HtmlOptions {
  /** The format the blocks are reported as (DOCX is read through its HTML rendering). */
  readonly format?: DocumentFormat;
  /** Whether block lines refer to the source (false for HTML generated from another format). */
  readonly lines?: boolean;
}

export function parseHtml(source: string, options: HtmlOptions = {}): StructuredDocument {
  const tree = fromHtml(source.replace(/^\uFEFF/, ""));
  const visible = prune(tree) as Root;
  const root = contentRoot(visible);
  const blocks: Block[] = [];
  const headings: { level: number; text: string }[] = [];
  const keepLines = options.lines !== false;
  let run: ElementContent[] = [];

  const push = (kind: BlockKind, node: Element, extra: Partial<Block> = {}) => {
    const text = render(node);
    if (text === "") return;
    const line = keepLines ? node.position?.start.line : undefined;
    blocks.push({
      kind,
      text,
      headingPath: headings.map((heading) => heading.text),
      ...(line === undefined ? {} : { line }),
      ...extra,
    });
  };
  const flush = () => {
    if (run.length === 0) return;
    const [first] = run;
    const paragraph: Element = {
      type: "element",
      tagName: "p",
      properties: {},
      children: run,
      ...(first?.position ? { position: first.position } : {}),
    };
    run = [];
    push("paragraph", paragraph);
  };
  const walk = (parent: Root | Element) => {
    for (const node of parent.children) {
      if (node.type !== "element") {
        if (node.type === "text") run.push(node);
        continue;
      }
      const name = node.tagName;
      const level = HEADING_LEVELS[name];
      if (level !== undefined) {
        flush();
        const heading = render(node);
        // No text, no boundary: see the module comment.
        if (heading === "") continue;
        while ((headings.at(-1)?.level ?? 0) >= level) headings.pop();
        push("heading", node, { heading, level });
        headings.push({ level, text: heading });
      } else if (BLOCKS[name] !== undefined) {
        flush();
        push(BLOCKS[name], node);
      } else if (SEPARATORS.has(name)) {
        flush();
      } else if (CONTAINERS.has(name) || holdsStructure(node)) {
        flush();
        walk(node);
        flush();
      } else {
        run.push(node);
      }
    }
  };
  walk(root);
  flush();
  return { format: options.format ?? "html", blocks };
}

/** A copy of the tree without comments, non-content elements and elements hidden from the reader. */
function prune(node: Nodes): Nodes | undefined {
  if (node.type === "comment" || node.type === "doctype") return undefined;
  if (node.type === "element" && (NOT_CONTENT.has(node.tagName) || isHidden(node))) return undefined;
  // A closed dialog is not shown until a script opens it; scripts are not run here.
  if (node.type === "element" && node.tagName === "dialog" && !node.properties.open) return undefined;
  if (node.type !== "root" && node.type !== "element") return node;
  const children = node.children
    .map((child) => prune(child))
    .filter((child): child is ElementContent => child !== undefined);
  return { ...node, children } as Nodes;
}

function isHidden(element: Element): boolean {
  const { hidden, style } = element.properties;
  // `hidden="until-found"` is shown when the reader searches the page; it is still hidden when read.
  if (hidden !== undefined && hidden !== false && hidden !== null) return true;
  if (typeof style !== "string" || style.trim() === "") return false;
  let declarations: Record<string, string> | null = null;
  try {
    declarations = styleToObject(style);
  } catch {
    // A style attribute the parser cannot read cannot be trusted to show its element: treat it as hidden.
    return true;
  }
  if (declarations === null) return false;
  for (const [property, value] of Object.entries(declarations)) {
    const name = property.trim().toLowerCase();
    const setting = value
      .replace(/!important/i, "")
      .trim()
      .toLowerCase();
    if (name === "display" && setting === "none") return true;
    if (name === "visibility" && (setting === "hidden" || setting === "collapse")) return true;
    if (name === "content-visibility" && setting === "hidden") return true;
  }
  return false;
}

/** The single `<main>` when there is exactly one, else `<body>`. */
function contentRoot(tree: Root): Root | Element {
  const mains: Element[] = [];
  let body: Element | undefined;
  const visit = (node: Root | Element) => {
    for (const child of node.children) {
      if (child.type !== "element") continue;
      if (child.tagName === "main") mains.push(child);
      if (child.tagName === "body") body = child;
      visit(child);
    }
  };
  visit(tree);
  const [main] = mains;
  if (mains.length === 1 && main !== undefined) return main;
  return body ?? tree;
}

/** Whether an element outside the known sets holds headings or blocks (then it is walked as a container). */
function holdsStructure(element: Element): boolean {
  return element.children.some(
    (child) =>
      child.type === "element" &&
      (HEADING_LEVELS[child.tagName] !== undefined ||
        BLOCKS[child.tagName] !== undefined ||
        CONTAINERS.has(child.tagName) ||
        holdsStructure(child)),
  );
}

/**
 * What a reader sees of the node: the innerText algorithm, blank lines dropped, and spaces collapsed within
 * lines except in preformatted blocks, whose indentation is their meaning.
 */
function render(node: Element): string {
  const preformatted = BLOCKS[node.tagName] === "code";
  return toText(node)
    .split("\n")
    .map((line) => (preformatted ? line.trimEnd() : line.replace(/[ \t\f\r\u00a0]+/g, " ").trim()))
    .filter((line) => line !== "")
    .join("\n");
}
