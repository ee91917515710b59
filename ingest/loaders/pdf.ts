/**
 * PDF to blocks, one run of paragraphs per page, via pdf-parse (pdf.js). Pages are kept because manifest
 * sections of a PDF are page ranges. A file pdf.js cannot open is an error that names the file and says
 * why in words an operator can act on; the library's own message stays in `cause`.
 */
import { AppError } from "../../src/core/errors.ts";
import type { Block, StructuredDocument } from "./structured-document.ts";

export const PDF_ENCRYPTED = "encrypted (needs a password)";
export const PDF_UNREADABLE = "not a readable PDF";

/** `name` is how errors refer to the file (the manifest's path for it). */
export async function parsePdf(data: Uint8Array, name: string): Promise<StructuredDocument> {
  // pdf.js is large; loading it on first use keeps the CLI quick for commands and corpora without PDFs.
  const { PDFParse, PasswordException, VerbosityLevel } = await import("pdf-parse");
  // pdf.js may transfer (detach) the buffer it is given; a copy keeps the caller's bytes intact.
  const parser = new PDFParse({ data: new Uint8Array(data), verbosity: VerbosityLevel.ERRORS });
  try {
    const result = await parser.getText();
    const blocks: Block[] = [];
    for (const page of [...result.pages].sort((a, b) => a.num - b.num)) {
      for (const paragraph of page.text.replace(/\r\n?/g, "\n").split(/\n[ \t]*\n/)) {
        const text = paragraph.trim();
        if (text !== "") blocks.push({ kind: "paragraph", text, headingPath: [], page: page.num });
      }
    }
    return { format: "pdf", blocks, pageCount: result.total };
  } catch (error) {
    const reason = error instanceof PasswordException ? PDF_ENCRYPTED : PDF_UNREADABLE;
    throw new AppError("BAD_REQUEST", `${name}: ${reason}`, { cause: error });
  } finally {
    await parser.destroy().catch(() => undefined);
  }
}
