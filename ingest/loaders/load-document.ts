/** Reads one document file and hands it to the loader for its extension. */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../../src/core/errors.ts";
import { parseDocx } from "./docx.ts";
import { parseHtml } from "./html.ts";
import { parseMarkdown } from "./markdown.ts";
import { parsePdf } from "./pdf.ts";
import type { DocumentFormat, StructuredDocument } from "./structured-document.ts";
import { parseText } from "./text.ts";

const FORMATS: Readonly<Record<string, DocumentFormat>> = {
  ".md": "markdown",
  ".markdown": "markdown",
  ".txt": "text",
  ".pdf": "pdf",
  ".html": "html",
  ".htm": "html",
  ".docx": "docx",
};

/** The file size limit when a caller names none (INGEST_MAX_FILE_BYTES' default). */
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;

export interface ParseOptions {
  /**
   * The file size limit (INGEST_MAX_FILE_BYTES). Callers check the file's own size before reading it; a
   * loader of a compressed format (DOCX) also bounds what the file expands to by it.
   */
  readonly maxBytes?: number;
}

export const SUPPORTED_EXTENSIONS: readonly string[] = Object.keys(FORMATS);

/** The format for a file name by its extension (case-insensitive), or undefined when unsupported. */
export function formatOf(filePath: string): DocumentFormat | undefined {
  return FORMATS[path.extname(filePath).toLowerCase()];
}

/**
 * Loads `filePath`. Errors are `BAD_REQUEST` AppErrors whose message starts with `name` (default: the
 * path) and a colon, so that a report can show the path a person wrote rather than a resolved one.
 * Ingest reads a manifest's files with `readConfinedFile` and hands the bytes to `parseDocument`.
 */
export async function loadDocument(
  filePath: string,
  name: string = filePath,
  options: ParseOptions = {},
): Promise<StructuredDocument> {
  if (!formatOf(filePath)) {
    throw new AppError(
      "BAD_REQUEST",
      `${name}: unsupported file type (expected ${SUPPORTED_EXTENSIONS.join(", ")})`,
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(filePath);
  } catch (error) {
    throw new AppError("BAD_REQUEST", `${name}: cannot read the file (${describeIoError(error)})`, {
      cause: error,
    });
  }
  return parseDocument(bytes, filePath, name, options);
}

/** Parses a document's bytes by the extension of `filePath`; errors start with `name`, as `loadDocument`'s. */
export async function parseDocument(
  bytes: Buffer,
  filePath: string,
  name: string = filePath,
  options: ParseOptions = {},
): Promise<StructuredDocument> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > maxBytes)
    throw new AppError("PAYLOAD_TOO_LARGE", `${name}: more than ${maxBytes} bytes`);
  const format = formatOf(filePath);
  if (!format) {
    throw new AppError(
      "BAD_REQUEST",
      `${name}: unsupported file type (expected ${SUPPORTED_EXTENSIONS.join(", ")})`,
    );
  }
  switch (format) {
    case "markdown":
      return parseMarkdown(decodeUtf8(bytes, name));
    case "text":
      return parseText(decodeUtf8(bytes, name));
    case "pdf":
      return parsePdf(bytes, name);
    case "html":
      return parseHtml(decodeUtf8(bytes, name));
    case "docx":
      return parseDocx(bytes, name, maxBytes);
  }
}

/** Fails on bytes that are not UTF-8 rather than indexing replacement characters. */
function decodeUtf8(bytes: Uint8Array, name: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new AppError("BAD_REQUEST", `${name}: not UTF-8 text`, { cause: error });
  }
}

function describeIoError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EISDIR") return "it is a directory";
  if (code === "EACCES") return "permission denied";
  return code ?? "unknown error";
}
