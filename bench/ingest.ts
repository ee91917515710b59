/**
 * `npm run bench:ingest`: the owners' write path on the embedded stores (in memory) with the offline
 * embedder, timed per phase, with the embedder's share of the time and its calls:
 * - ingest 1,000 Markdown and 100 PDF documents (one manifest);
 * - the same manifest again over unchanged files (must not call the embedder);
 * - an access change on a 100-chunk document: a viewer added (`changeAccess`), and its collection moved by
 *   re-ingest (chunk metadata updated in place); neither may call the embedder;
 * - deleting the 1,000 Markdown documents.
 * Writes bench/results/ingest.md.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import PDFDocument from "pdfkit";
import { ingestManifest } from "../ingest/ingest.ts";
import { removeDocument } from "../ingest/remove.ts";
import { createEmbeddedAuthorizer } from "../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createHashingEmbedder } from "../src/adapters/offline/hashing-embedder.ts";
import { changeAccess } from "../src/app/owners.ts";
import type { Embedder } from "../src/ports/embedder.ts";
import { machine, writeResults } from "./bench-support.ts";
import { markdownTable } from "./tables.ts";

const MARKDOWN = 1_000;
const PDFS = 100;

function timedEmbedder(inner: Embedder): Embedder & { ms: number; calls: number } {
  const timed = {
    model: inner.model,
    dimensions: inner.dimensions,
    ms: 0,
    calls: 0,
    async embedDocuments(texts: string[]) {
      const started = performance.now();
      timed.calls++;
      try {
        return await inner.embedDocuments(texts);
      } finally {
        timed.ms += performance.now() - started;
      }
    },
    embedQuery: (text: string) => inner.embedQuery(text),
  };
  return timed as unknown as Embedder & { ms: number; calls: number };
}

function paragraph(seed: number): string {
  const words = ["account", "branch", "wire", "card", "dispute", "fee", "deposit", "loan", "rate", "vault"];
  return Array.from({ length: 60 }, (_, i) => words[(seed * 7 + i * 3) % words.length]).join(" ");
}

function markdown(index: number, sections: number): string {
  const parts = [`# Document ${index}`, ""];
  for (let s = 0; s < sections; s++) parts.push(`## Part ${s}`, "", `${paragraph(index + s)}.`, "");
  return parts.join("\n");
}

function pdf(index: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const doc = new PDFDocument({ info: { CreationDate: new Date(0) } });
    const chunks: Buffer[] = [];
    doc.on("data", (chunk: Buffer) => chunks.push(chunk));
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    for (let page = 0; page < 3; page++) {
      if (page > 0) doc.addPage();
      doc.text(`PDF ${index} page ${page + 1}. ${paragraph(index + page)}.`);
    }
    doc.end();
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "clearance-bench-ingest-"));
  try {
    await mkdir(path.join(dir, "docs"));
    await writeFile(
      path.join(dir, "schema.perm"),
      await readFile(new URL("../fixtures/schema.perm", import.meta.url), "utf8"),
    );
    const entries: string[] = [];
    for (let i = 0; i < MARKDOWN; i++) {
      // Document 0 is the 100-chunk one.
      await writeFile(path.join(dir, "docs", `md-${i}.md`), markdown(i, i === 0 ? 100 : 3));
      entries.push(
        `  - {id: md-${i}, path: docs/md-${i}.md, title: Doc ${i}, collection: bench, owner: "user:o"}`,
      );
    }
    for (let i = 0; i < PDFS; i++) {
      await writeFile(path.join(dir, "docs", `pdf-${i}.pdf`), await pdf(i));
      entries.push(
        `  - {id: pdf-${i}, path: docs/pdf-${i}.pdf, title: PDF ${i}, collection: bench, owner: "user:o"}`,
      );
    }
    const manifestPath = path.join(dir, "manifest.yaml");
    await writeFile(manifestPath, `schema: schema.perm\ndocuments:\n${entries.join("\n")}\n`);

    const embedder = timedEmbedder(createHashingEmbedder());
    const authorizer = await createEmbeddedAuthorizer();
    const vectorStore = await createEmbeddedVectorStore({ dimensions: embedder.dimensions });
    const rows: string[][] = [];
    const phase = async (name: string, documents: number, work: () => Promise<number>) => {
      const embedMs = embedder.ms;
      const calls = embedder.calls;
      const started = performance.now();
      const chunks = await work();
      const seconds = (performance.now() - started) / 1000;
      const share = seconds === 0 ? 0 : (embedder.ms - embedMs) / 1000 / seconds;
      rows.push([
        name,
        String(documents),
        String(chunks),
        seconds.toFixed(2),
        (documents / seconds).toFixed(1),
        (chunks / seconds).toFixed(0),
        String(embedder.calls - calls),
        `${(share * 100).toFixed(0)}%`,
      ]);
      console.log(rows.at(-1)?.join("  "));
    };
    const ingest = async () => {
      const report = await ingestManifest({
        manifestPath,
        authorizer,
        vectorStore,
        embedder,
        schemaChange: { allow: true },
      });
      if (report.failed > 0) throw new Error(`${report.failed} documents failed`);
      return report.documents.reduce((sum, document) => sum + document.chunks, 0);
    };
    await phase(`ingest ${MARKDOWN} Markdown + ${PDFS} PDF`, MARKDOWN + PDFS, ingest);
    await phase("re-run over unchanged files", MARKDOWN + PDFS, ingest);
    const bigChunks = (await vectorStore.documentChunks("md-0")).length;
    await phase(`access change: add a viewer (${bigChunks}-chunk document)`, 1, async () => {
      await changeAccess(
        { authorizer, vectorStore, embedder },
        { principal: { userId: "operator", agentIds: [] }, requestId: "bench", surface: "bench" },
        "md-0",
        { addViewers: ["user:tom"] },
        { asOperator: true },
      );
      return 0;
    });
    const single = path.join(dir, "single.yaml");
    await writeFile(
      single,
      'documents:\n  - {id: md-0, path: docs/md-0.md, title: Doc 0, collection: moved, owner: "user:o", viewers: ["user:tom"]}\n',
    );
    await phase(
      `access change: move collection (${bigChunks}-chunk document, metadata in place)`,
      1,
      async () => {
        const report = await ingestManifest({ manifestPath: single, authorizer, vectorStore, embedder });
        return report.documents[0]?.change?.metadataUpdated ?? 0;
      },
    );
    await phase(`delete ${MARKDOWN} documents`, MARKDOWN, async () => {
      let chunks = 0;
      for (let i = 0; i < MARKDOWN; i++)
        chunks += (await removeDocument(`md-${i}`, { authorizer, vectorStore })).chunks;
      return chunks;
    });
    const markdownOut = [
      "# Ingest benchmark",
      "",
      `\`npm run bench:ingest\` on ${machine()}, ${new Date().toISOString().slice(0, 10)}.`,
      "Embedded authorizer and vector store in memory, offline hashing embedder (384 dimensions): the",
      "embedder's share is small here; with a remote embedding model it dominates the first ingest, and the",
      "unchanged re-run and the access changes still call it zero times.",
      "",
      markdownTable(
        [
          "phase",
          "documents",
          "chunks",
          "seconds",
          "documents/s",
          "chunks/s",
          "embedder calls",
          "embedder share",
        ],
        rows,
      ),
      "",
    ].join("\n");
    await writeResults("ingest.md", markdownOut);
    await Promise.all([authorizer.close(), vectorStore.close()]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
