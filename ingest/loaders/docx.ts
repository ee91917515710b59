/**
 * DOCX to blocks: mammoth converts the document to HTML (Word's Heading 1–6 styles become `<h1>`–`<h6>`),
 * and the HTML loader reads that, so sections by heading work as they do for HTML and Markdown.
 *
 * A DOCX file is a ZIP package from a document owner, so it is untrusted twice over:
 * - its parts are inflated once, counted, before mammoth reads them: a package that expands beyond
 *   `DOCX_EXPANSION` times the file size limit is refused (a small file must not become gigabytes of XML);
 * - mammoth is told not to read files outside the package, not to use a style map embedded in it, and not
 *   to embed images (their bytes are never read);
 * - footnotes, endnotes and comments are dropped: mammoth places them at the end of the document, under the
 *   last heading, which is another section than the one that refers to them.
 * Mammoth escapes the document's text, so markup typed into a Word document stays text.
 */
import JSZip from "jszip";
import mammoth from "mammoth";
import { AppError } from "../../src/core/errors.ts";
import { parseHtml } from "./html.ts";
import type { StructuredDocument } from "./structured-document.ts";

/** How many times the file size limit a package's parts may add up to once inflated. */
export const DOCX_EXPANSION = 10;
export const DOCX_UNREADABLE = "not a readable DOCX file";
export const DOCX_TOO_LARGE = "expands to more than";

interface MammothElement {
  type: string;
  children?: MammothElement[];
}

/** Element types mammoth reads that refer to text stored elsewhere in the package (see the module comment). */
const DROPPED = new Set(["noteReference", "commentReference", "comment"]);

/**
 * `name` is how errors refer to the file; `maxBytes` is the file size limit (INGEST_MAX_FILE_BYTES), of
 * which the inflated package may be `DOCX_EXPANSION` times.
 */
export async function parseDocx(
  data: Uint8Array,
  name: string,
  maxBytes: number,
): Promise<StructuredDocument> {
  const limit = maxBytes * DOCX_EXPANSION;
  await checkExpansion(data, name, limit);
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(data) },
      {
        externalFileAccess: false,
        includeEmbeddedStyleMap: false,
        ignoreEmptyParagraphs: true,
        // Images become empty <img> elements: their bytes are never read, and an image has no text anyway.
        convertImage: mammoth.images.imgElement(async () => ({ src: "" })),
        transformDocument: dropReferences,
      },
    );
    html = result.value;
  } catch (error) {
    throw new AppError("BAD_REQUEST", `${name}: ${DOCX_UNREADABLE}`, { cause: error });
  }
  return parseHtml(html, { format: "docx", lines: false });
}

/** Inflates every part, counting bytes and stopping at `limit`; the sizes the package declares are not trusted. */
async function checkExpansion(data: Uint8Array, name: string, limit: number): Promise<void> {
  let zip: JSZip;
  try {
    zip = await JSZip.loadAsync(data, { checkCRC32: true });
  } catch (error) {
    throw new AppError("BAD_REQUEST", `${name}: ${DOCX_UNREADABLE}`, { cause: error });
  }
  if (zip.file("word/document.xml") === null) {
    throw new AppError("BAD_REQUEST", `${name}: ${DOCX_UNREADABLE} (no word/document.xml)`);
  }
  let total = 0;
  for (const entry of Object.values(zip.files)) {
    if (entry.dir) continue;
    await new Promise<void>((resolve, reject) => {
      const stream = entry.nodeStream("nodebuffer");
      stream.on("data", (chunk: Buffer) => {
        total += chunk.length;
        if (total > limit) {
          (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
          reject(
            new AppError("PAYLOAD_TOO_LARGE", `${name}: ${DOCX_TOO_LARGE} ${limit} bytes once inflated`),
          );
        }
      });
      stream.on("end", () => resolve());
      stream.on("error", (error: unknown) =>
        reject(new AppError("BAD_REQUEST", `${name}: ${DOCX_UNREADABLE}`, { cause: error })),
      );
    });
  }
}

function dropReferences<T>(element: T): T {
  const node = element as unknown as MammothElement;
  if (node.children) {
    node.children = node.children.filter((child) => !DROPPED.has(child.type)).map(dropReferences);
  }
  return element;
}
