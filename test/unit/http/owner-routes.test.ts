/**
 * The owners' routes (issue 14) through `app.request()` on the embedded adapters: both directions of
 * authorization (the owner can; a customer, a teller who does not manage the collection, and an agent
 * without `manage` get 403 and nothing changes), bad input, faults, and one audit record per write.
 */
import { readFile } from "node:fs/promises";
import { Document, HeadingLevel, Packer, Paragraph } from "docx";
import JSZip from "jszip";
import { pino } from "pino";
import { beforeEach, describe, expect, it } from "vitest";
import { ingestManifest } from "../../../ingest/ingest.ts";
import { createMemoryAuditLog } from "../../../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../../../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../../../src/adapters/offline/hashing-embedder.ts";
import { composeApp } from "../../../src/composition.ts";
import { delegationData } from "../../../src/core/delegation.ts";
import { parseTuple } from "../../../src/core/permify-notation.ts";
import type { App } from "../../../src/http/app-env.ts";
import type { Authorizer } from "../../../src/ports/authorizer.ts";
import type { VectorStore } from "../../../src/ports/vector-store.ts";
import { withFailingWrites } from "../../helpers/stub-adapters.ts";
import { useTempDir } from "../../helpers/temp-dir.ts";
import { signTestToken, testTokenVerifier } from "../../helpers/test-identity.ts";

const SCHEMA = await readFile(new URL("../../../fixtures/schema.perm", import.meta.url), "utf8");
const CORRUPT_PDF = await readFile(new URL("../../fixtures/bad-pdfs/corrupt.pdf", import.meta.url));
const DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/** The NEW_ENTRY document as HTML and as a Word file: a public paragraph, then the tellers' section. */
const NEW_HTML = `<!doctype html><title>Wires</title><script>var leak = "script text";</script><main><h1>Wire transfers</h1><p>Send a wire before 3 pm.</p><h2>Internal</h2><p>Tellers verify wires above 10,000 dollars by phone.</p><p hidden>hidden text</p></main>`;
async function newDocx(): Promise<Buffer> {
  return Packer.toBuffer(
    new Document({
      sections: [
        {
          children: [
            new Paragraph({ text: "Wire transfers", heading: HeadingLevel.HEADING_1 }),
            new Paragraph("Send a wire before 3 pm."),
            new Paragraph({ text: "Internal", heading: HeadingLevel.HEADING_2 }),
            new Paragraph("Tellers verify wires above 10,000 dollars by phone."),
          ],
        },
      ],
    }),
  );
}

const MANIFEST = `schema: schema.perm
relationships: relationships.yaml
documents:
  - id: help-cards
    path: help-cards.md
    title: Cards
    collection: help-center
    owner: user:nadia
  - id: exec-memo
    path: exec-memo.md
    title: Memo
    collection: executive
    owner: user:victor
    sections:
      - id: memo-legal
        heading: Legal
        audience: [user:victor]
`;

const RELATIONSHIPS = `relationships:
  - team:customers#member@user:maria
  - team:tellers#member@user:tom
  - collection:help-center#owner@user:nadia
  - collection:help-center#viewer@team:customers#member
  - collection:help-center#viewer@team:tellers#member
  - collection:help-center#viewer@agent:support-assistant
  - collection:executive#viewer@user:victor
`;

const NEW_ENTRY = {
  id: "help-wires",
  title: "Wire transfers",
  collection: "help-center",
  owner: "user:nadia",
  sections: [{ id: "wires-internal", heading: "Internal", audience: ["team:tellers#member"] }],
};
const NEW_TEXT =
  "# Wire transfers\n\nSend a wire before 3 pm.\n\n## Internal\n\nTellers verify wires above 10,000 dollars by phone.\n";

const temp = useTempDir("clearance-owner-routes-");
let authorizer: Authorizer;
let vectorStore: VectorStore;
let auditLog: ReturnType<typeof createMemoryAuditLog>;
let app: App;

function build(
  overrides: { authorizer?: Authorizer; vectorStore?: VectorStore; maxFileBytes?: number } = {},
): App {
  return composeApp({
    authorizer: overrides.authorizer ?? authorizer,
    vectorStore: overrides.vectorStore ?? vectorStore,
    embedder: createHashingEmbedder(),
    chatModel: createExtractiveAnswerer(),
    auditLog,
    tokenVerifier: testTokenVerifier(),
    logger: pino({ level: "silent" }),
    limits: { defaultK: 8, maxK: 50, queryMaxChars: 2000 },
    ingestLimits: { maxFileBytes: overrides.maxFileBytes ?? 4096, maxChunksPerDocument: 100 },
  }).app;
}

beforeEach(async () => {
  await temp.write("schema.perm", SCHEMA);
  await temp.write("relationships.yaml", RELATIONSHIPS);
  await temp.write("help-cards.md", "# Cards\n\nReport a lost card in the app.\n");
  await temp.write("exec-memo.md", "# Memo\n\nBranch plans.\n\n## Legal\n\nSettlement terms.\n");
  const manifestPath = await temp.write("manifest.yaml", MANIFEST);
  authorizer = await createEmbeddedAuthorizer();
  vectorStore = await createEmbeddedVectorStore({ dimensions: createHashingEmbedder().dimensions });
  auditLog = createMemoryAuditLog();
  const report = await ingestManifest({
    manifestPath,
    authorizer,
    vectorStore,
    embedder: createHashingEmbedder(),
    schemaChange: { allow: true },
    relationshipScope: "any",
  });
  expect(report.failed).toBe(0);
  // Nadia lets the support assistant act for her; whether it may manage a collection is the schema's.
  await authorizer.writeData(delegationData("nadia", "support-assistant"));
  app = build();
});

/** A token that may write documents (and search, to see the result): the authorizer decides the rest. */
async function as(sub: string, agents: string[] = []): Promise<string> {
  return signTestToken({ sub, agents, extraClaims: { scope: "documents:write documents:search" } });
}

function uploadBody(entry: unknown, content: string | Buffer, name: string, type = ""): FormData {
  const form = new FormData();
  form.set("entry", JSON.stringify(entry));
  form.set("file", new File([content], name, { type }));
  return form;
}

async function send(
  method: string,
  url: string,
  token: string,
  body?: FormData | object,
  target: App = app,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${token}` } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const response = await target.request(url, init);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function searchIds(token: string, query: string): Promise<string[]> {
  const { body } = await send("POST", "/v1/search", token, { query, k: 20 });
  return ((body.passages as { documentId: string; sectionId: string | null }[]) ?? []).map(
    (p) => p.sectionId ?? p.documentId,
  );
}

/** The memo's passages a principal gets for a question about it. */
async function memoIds(token: string): Promise<string[]> {
  return (await searchIds(token, "branch plans settlement terms")).filter((id) => id.includes("memo"));
}

async function stored(): Promise<readonly string[]> {
  return vectorStore.listDocuments();
}

describe("POST /v1/documents", () => {
  it("the collection's owner adds a document; readers see it, the section only its audience", async () => {
    const response = await send(
      "POST",
      "/v1/documents",
      await as("nadia"),
      uploadBody(NEW_ENTRY, NEW_TEXT, "wires.md"),
    );
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ id: "help-wires", status: "ingested" });
    expect(await searchIds(await as("maria"), "wire transfers phone verify")).toContain("help-wires");
    expect(await searchIds(await as("maria"), "wire transfers phone verify")).not.toContain("wires-internal");
    expect(await searchIds(await as("tom"), "wire transfers phone verify")).toContain("wires-internal");
    expect(auditLog.records.filter((r) => r.changes !== undefined)).toHaveLength(1);
    expect(auditLog.records.find((r) => r.changes !== undefined)).toMatchObject({
      userId: "nadia",
      surface: "POST /v1/documents",
      action: "document.put",
      changes: [{ op: "upload", target: "document:help-wires" }],
    });
  });

  for (const [who, agents] of [
    ["maria", []],
    ["tom", []],
    ["nadia", ["support-assistant"]],
  ] as const) {
    it(`${[...agents, who].join(" for ")} gets 403 and nothing is written`, async () => {
      const before = await stored();
      const response = await send(
        "POST",
        "/v1/documents",
        await as(who, [...agents]),
        uploadBody(NEW_ENTRY, NEW_TEXT, "wires.md"),
      );
      expect(response.status).toBe(403);
      expect((response.body.error as { code: string }).code).toBe("FORBIDDEN");
      expect(await stored()).toEqual(before);
      expect(auditLog.records.filter((r) => r.changes !== undefined)).toHaveLength(0);
    });
  }

  it("an agent acting for the owner may when the agent manages the collection too", async () => {
    await authorizer.writeData({
      tuples: [parseTuple("collection:help-center#manager@agent:support-assistant")],
    });
    const response = await send(
      "POST",
      "/v1/documents",
      await as("nadia", ["support-assistant"]),
      uploadBody(NEW_ENTRY, NEW_TEXT, "wires.md"),
    );
    expect(response.status).toBe(201);
    expect(auditLog.records.find((r) => r.changes !== undefined)).toMatchObject({
      userId: "nadia",
      agentIds: ["support-assistant"],
    });
  });

  for (const [format, name, type, content] of [
    ["HTML", "wires.html", "text/html", async () => Buffer.from(NEW_HTML)],
    ["HTML (.htm, no declared type)", "wires.htm", "", async () => Buffer.from(NEW_HTML)],
    ["DOCX", "wires.docx", DOCX_TYPE, newDocx],
    ["DOCX (declared as octet-stream)", "wires.docx", "application/octet-stream", newDocx],
  ] as const) {
    it(`accepts ${format}: its section by heading is only for its audience, hostile content is not indexed`, async () => {
      const target = build({ maxFileBytes: 64 * 1024 });
      const response = await send(
        "POST",
        "/v1/documents",
        await as("nadia"),
        uploadBody(NEW_ENTRY, await content(), name, type),
        target,
      );
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({ id: "help-wires", status: "ingested" });
      const chunks = await vectorStore.documentChunks("help-wires");
      expect(chunks.find((c) => c.text.includes("Tellers verify"))?.resource).toBe("section:wires-internal");
      expect(chunks.find((c) => c.text.includes("Send a wire"))?.resource).toBe("document:help-wires");
      expect(chunks.some((c) => /script text|hidden text|<\w+/.test(c.text))).toBe(false);
      expect(await searchIds(await as("maria"), "wire transfers phone verify")).toContain("help-wires");
      expect(await searchIds(await as("maria"), "wire transfers phone verify")).not.toContain(
        "wires-internal",
      );
      expect(await searchIds(await as("tom"), "wire transfers phone verify")).toContain("wires-internal");
    });
  }

  it("refuses other types (415), an oversized or inflating DOCX (413) and a corrupt one (422), writing nothing", async () => {
    const target = build({ maxFileBytes: 64 * 1024 });
    const token = await as("nadia");
    const before = await stored();
    const docx = await newDocx();
    const zip = await JSZip.loadAsync(docx);
    zip.file("word/padding.xml", `<x>${" ".repeat(1024 * 1024)}</x>`);
    const bomb = await zip.generateAsync({ type: "nodebuffer", compression: "DEFLATE" });
    const cases: [FormData, number, string][] = [
      [uploadBody(NEW_ENTRY, NEW_HTML, "wires.rtf"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [uploadBody(NEW_ENTRY, NEW_HTML, "wires.xhtml"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [uploadBody(NEW_ENTRY, docx, "wires.doc"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [uploadBody(NEW_ENTRY, NEW_HTML, "wires.html", "application/pdf"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [uploadBody(NEW_ENTRY, docx, "wires.docx", "text/html"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [uploadBody(NEW_ENTRY, Buffer.alloc(64 * 1024 + 1), "wires.docx", DOCX_TYPE), 413, "PAYLOAD_TOO_LARGE"],
      [uploadBody(NEW_ENTRY, bomb, "wires.docx", DOCX_TYPE), 413, "PAYLOAD_TOO_LARGE"],
      [uploadBody(NEW_ENTRY, "not a zip", "wires.docx", DOCX_TYPE), 422, "UNPROCESSABLE"],
      [uploadBody(NEW_ENTRY, Buffer.from([0x3c, 0x70, 0x3e, 0xff]), "wires.html"), 422, "UNPROCESSABLE"],
      [
        uploadBody(
          { ...NEW_ENTRY, sections: [{ id: "s", heading: "Nowhere", audience: ["user:tom"] }] },
          NEW_HTML,
          "wires.html",
        ),
        400,
        "BAD_REQUEST",
      ],
    ];
    for (const [body, status, code] of cases) {
      const response = await send("POST", "/v1/documents", token, body, target);
      expect(response.status, code).toBe(status);
      expect((response.body.error as { code: string }).code).toBe(code);
    }
    expect(await stored()).toEqual(before);
    expect(auditLog.records.filter((r) => r.changes !== undefined)).toHaveLength(0);
  });

  it("refuses bad input, writing nothing", async () => {
    const token = await as("nadia");
    const before = await stored();
    const cases: [FormData, number, string][] = [
      [uploadBody({ ...NEW_ENTRY, id: "bad id!" }, NEW_TEXT, "wires.md"), 400, "BAD_REQUEST"],
      [uploadBody(NEW_ENTRY, "x".repeat(5000), "wires.md"), 413, "PAYLOAD_TOO_LARGE"],
      [uploadBody(NEW_ENTRY, NEW_TEXT, "wires.exe"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [uploadBody(NEW_ENTRY, NEW_TEXT, "wires.md", "image/png"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [
        uploadBody({ ...NEW_ENTRY, sections: [] }, CORRUPT_PDF.subarray(0, 4000), "wires.pdf"),
        422,
        "UNPROCESSABLE",
      ],
      [uploadBody({ ...NEW_ENTRY, id: "help-cards" }, NEW_TEXT, "wires.md"), 409, "CONFLICT"],
      [
        uploadBody(
          { ...NEW_ENTRY, sections: [{ id: "s", heading: "Nowhere", audience: ["user:tom"] }] },
          NEW_TEXT,
          "wires.md",
        ),
        400,
        "BAD_REQUEST",
      ],
    ];
    for (const [body, status, code] of cases) {
      const response = await send("POST", "/v1/documents", token, body);
      expect(response.status, code).toBe(status);
      expect((response.body.error as { code: string }).code).toBe(code);
    }
    expect(await stored()).toEqual(before);
    const tuples = await authorizer.readRelationships({
      filter: { entity: { type: "document", ids: ["help-wires"] } },
    });
    expect(tuples.tuples).toEqual([]);
  });

  it("an authorizer failing midway leaves no document any reader can see, and a retry completes it", async () => {
    const failing = withFailingWrites(authorizer, { failWrite: () => true });
    const response = await send(
      "POST",
      "/v1/documents",
      await as("nadia"),
      uploadBody(NEW_ENTRY, NEW_TEXT, "wires.md"),
      build({ authorizer: failing }),
    );
    expect(response.status).toBe(503);
    for (const who of ["nadia", "maria", "tom"]) {
      expect(await searchIds(await as(who), "wire transfers phone verify")).not.toContain("help-wires");
    }
    // Chunks without relationships: the document exists for the store; PUT finishes it.
    const retry = await send(
      "PUT",
      "/v1/documents/help-wires",
      await as("nadia"),
      uploadBody(NEW_ENTRY, NEW_TEXT, "wires.md"),
    );
    expect(retry.status).toBe(403);
    await vectorStore.deleteDocument("help-wires");
    const again = await send(
      "POST",
      "/v1/documents",
      await as("nadia"),
      uploadBody(NEW_ENTRY, NEW_TEXT, "wires.md"),
    );
    expect(again.status).toBe(201);
  });
});

describe("PUT and DELETE /v1/documents/{id}", () => {
  it("the owner replaces; an unknown document is 404", async () => {
    const token = await as("nadia");
    const entry = { id: "help-cards", title: "Cards", collection: "help-center", owner: "user:nadia" };
    const response = await send(
      "PUT",
      "/v1/documents/help-cards",
      token,
      uploadBody(entry, "# Cards\n\nFreeze a card in the app.\n", "cards.md"),
    );
    expect(response.status).toBe(200);
    expect(await searchIds(await as("maria"), "freeze a card")).toContain("help-cards");
    const unknown = await send(
      "PUT",
      "/v1/documents/nope",
      token,
      uploadBody({ ...entry, id: "nope" }, "# x\n\ny\n", "x.md"),
    );
    expect(unknown.status).toBe(404);
  });

  it("a teller who does not manage the collection gets 403 and the document stays", async () => {
    const response = await send("DELETE", "/v1/documents/help-cards", await as("tom"));
    expect(response.status).toBe(403);
    expect(await stored()).toContain("help-cards");
  });

  it("the owner deletes: chunks and relationships go, the next query has none, a second delete is 404", async () => {
    const token = await as("nadia");
    const dry = await send("DELETE", "/v1/documents/help-cards?dryRun=true", token);
    expect(dry.status).toBe(200);
    expect(await stored()).toContain("help-cards");
    const response = await send("DELETE", "/v1/documents/help-cards", token);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: "help-cards", status: "deleted", chunks: 1 });
    expect(await stored()).not.toContain("help-cards");
    expect(await searchIds(await as("maria"), "lost card")).not.toContain("help-cards");
    const tuples = await authorizer.readRelationships({
      filter: { entity: { type: "document", ids: ["help-cards"] } },
    });
    expect(tuples.tuples).toEqual([]);
    expect((await send("DELETE", "/v1/documents/help-cards", token)).status).toBe(404);
    expect((await send("DELETE", "/v1/documents/bad%20id", token)).status).toBe(400);
    expect(auditLog.records.filter((r) => r.changes?.some((change) => change.op === "delete"))).toHaveLength(
      1,
    );
  });

  it("deletes a document's sections' relationships too", async () => {
    const response = await send("DELETE", "/v1/documents/exec-memo", await as("victor"));
    expect(response.status).toBe(200);
    const sections = await authorizer.readRelationships({
      filter: { entity: { type: "section", ids: ["memo-legal"] } },
    });
    expect(sections.tuples).toEqual([]);
  });
});

describe("/v1/documents/{id}/access", () => {
  it("lists who may view the document and its sections, to its owner only", async () => {
    const view = await send("GET", "/v1/documents/exec-memo/access", await as("victor"));
    expect(view.status).toBe(200);
    expect(view.body).toEqual({
      document: { id: "exec-memo", viewers: ["user:victor"] },
      sections: [{ id: "memo-legal", viewers: ["user:victor"] }],
    });
    expect((await send("GET", "/v1/documents/exec-memo/access", await as("maria"))).status).toBe(403);
    expect((await send("GET", "/v1/documents/nope/access", await as("victor"))).status).toBe(404);
  });

  it("changes viewers and section audiences, in force for the next query, without re-embedding", async () => {
    const token = await as("victor");
    const chunksBefore = await vectorStore.documentChunks("exec-memo");
    const added = await send("PATCH", "/v1/documents/exec-memo/access", token, {
      addViewers: ["user:tom"],
      sectionAudiences: [{ section: "memo-legal", audience: ["user:victor", "user:tom"] }],
    });
    expect(added.status).toBe(200);
    expect(await memoIds(await as("tom"))).toEqual(expect.arrayContaining(["exec-memo", "memo-legal"]));
    const removed = await send("PATCH", "/v1/documents/exec-memo/access", token, {
      removeViewers: ["user:tom"],
    });
    expect(removed.body).toMatchObject({ relationshipsRemoved: ["document:exec-memo#viewer@user:tom"] });
    expect(await memoIds(await as("tom"))).toEqual([]);
    expect(await vectorStore.documentChunks("exec-memo")).toEqual(chunksBefore);
    expect(
      auditLog.records.filter((r) => r.action === "document.access.change" && r.changes !== undefined),
    ).toHaveLength(2);
  });

  it("refuses others and bad input, changing nothing", async () => {
    const forbidden = await send("PATCH", "/v1/documents/exec-memo/access", await as("tom"), {
      addViewers: ["user:tom"],
    });
    expect(forbidden.status).toBe(403);
    const token = await as("victor");
    for (const body of [
      { addViewers: ["nonsense"] },
      { addViewers: ["user:*"] },
      {},
      { sectionAudiences: [{ section: "not-mine", audience: ["user:tom"] }] },
      { sectionAudiences: [{ section: "memo-legal", audience: [] }] },
      { unknown: true },
    ]) {
      expect((await send("PATCH", "/v1/documents/exec-memo/access", token, body)).status).toBe(400);
    }
    expect(await memoIds(await as("tom"))).toEqual([]);
  });

  it("an authorizer that fails is 503, and access is as it was", async () => {
    const failing = withFailingWrites(authorizer, { failWrite: () => true, failDelete: () => true });
    const response = await send(
      "PATCH",
      "/v1/documents/exec-memo/access",
      await as("victor"),
      { addViewers: ["user:tom"] },
      build({ authorizer: failing }),
    );
    expect(response.status).toBe(503);
    expect(await memoIds(await as("tom"))).toEqual([]);
  });
});
