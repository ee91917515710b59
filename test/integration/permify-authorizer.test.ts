/**
 * The Permify adapter against a real Permify server: the Authorizer port's contract, the fail-closed
 * paths (timeouts, refused credentials, a failing page or bulk call) and the snap-token bookkeeping.
 * Faults are injected with gRPC client middleware (a stub in the call path, named as such) or by pausing
 * and stopping a server of the test's own.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ClientError, type ClientMiddleware, Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createPermifyAuthorizer,
  type PermifyAuthorizer,
  type PermifyAuthorizerOptions,
} from "../../src/adapters/permify/permify-authorizer.ts";
import type { CheckRequest, Tuple } from "../../src/core/authz-model.ts";
import { lookupAllResources } from "../../src/core/lookup-all.ts";
import { formatTuple, parseTuple } from "../../src/core/permify-notation.ts";
import { outcomeName } from "../../src/ports/authorizer.ts";
import { expectAppError } from "../helpers/errors.ts";
import { describeWithPermify, type PermifyServer, startPermify, uniqueTenant } from "../helpers/permify.ts";

const SCHEMA = `entity user {}

entity team {
  relation member @user @team#member
}

entity document {
  relation owner @user
  relation viewer @user @team @team#member
  attribute public boolean
  permission view = (owner or viewer) or public
  relation parent @document
  permission chain = owner and parent.chain
}
`;

const tuples = (...texts: string[]): Tuple[] => texts.map(parseTuple);
const viewCheck = (document: string, user: string): CheckRequest => ({
  entity: { type: "document", id: document },
  permission: "view",
  subject: { type: "user", id: user },
});

/** Records the path and request of every call; a stub in the client's call path. */
function recordingMiddleware(calls: { path: string; request: unknown }[]): ClientMiddleware {
  return async function* record(call, options) {
    calls.push({ path: call.method.path, request: call.request });
    return yield* call.next(call.request, options);
  };
}

/** A stub that fails the calls `fail` picks with UNAVAILABLE, as a dropped connection would. */
function failingMiddleware(fail: (path: string, ordinal: number) => boolean): ClientMiddleware {
  const seen = new Map<string, number>();
  return async function* maybeFail(call, options) {
    const ordinal = (seen.get(call.method.path) ?? 0) + 1;
    seen.set(call.method.path, ordinal);
    if (fail(call.method.path, ordinal)) {
      throw new ClientError(call.method.path, Status.UNAVAILABLE, "injected fault");
    }
    return yield* call.next(call.request, options);
  };
}

describeWithPermify("Permify adapter", (endpoint) => {
  const opened: PermifyAuthorizer[] = [];
  const open = (options: Partial<PermifyAuthorizerOptions> = {}): PermifyAuthorizer => {
    const authorizer = createPermifyAuthorizer({
      endpoint,
      tenant: uniqueTenant("adapter"),
      ...options,
    });
    opened.push(authorizer);
    return authorizer;
  };
  let seeded: PermifyAuthorizer;

  beforeAll(async () => {
    seeded = open();
    await seeded.writeSchema(SCHEMA);
    await seeded.writeData({
      tuples: tuples(
        "team:risk#member@user:rita",
        "team:all#member@team:risk#member",
        "document:plan#viewer@team:all#member",
        "document:memo#owner@user:olga",
        "document:memo#viewer@team:risk",
      ),
      attributes: [
        {
          entity: { type: "document", id: "faq" },
          attribute: "public",
          value: { type: "boolean", value: true },
        },
      ],
    });
  });
  afterAll(async () => {
    await Promise.all(opened.map((authorizer) => authorizer.close()));
  });

  describe("schema", () => {
    it("reads back the version written, and no text (Permify keeps only definitions)", async () => {
      const authorizer = open();
      await expectAppError(authorizer.readSchema(), "NOT_FOUND");
      const { schemaVersion } = await authorizer.writeSchema(SCHEMA);
      expect(await authorizer.readSchema()).toEqual({ schemaVersion });
    });

    it("knows whether a schema is the one in force, whatever its layout", async () => {
      const authorizer = open();
      expect(await authorizer.isSchemaInForce(SCHEMA)).toBe(false);
      await authorizer.writeSchema(SCHEMA);
      expect(await authorizer.isSchemaInForce(SCHEMA)).toBe(true);
      expect(
        await authorizer.isSchemaInForce(`// same, reformatted\n${SCHEMA.replaceAll("\n\n", "\n")}`),
      ).toBe(true);
      expect(await authorizer.isSchemaInForce(SCHEMA.replace("(owner or viewer) or public", "owner"))).toBe(
        false,
      );
    });

    it("rejects a schema that does not compile with SCHEMA_INVALID and its position, keeping the old one", async () => {
      const authorizer = open();
      const { schemaVersion } = await authorizer.writeSchema(SCHEMA);
      const error = await expectAppError(
        authorizer.writeSchema("entity x {\n  relation y @nowhere\n}"),
        "SCHEMA_INVALID",
      );
      expect(error.message).toMatch(/^\d+:\d+:/);
      expect(await authorizer.readSchema()).toEqual({ schemaVersion });
    });
  });

  describe("writes", () => {
    it("rejects a tuple the schema does not allow with DATA_INVALID and writes nothing of the batch", async () => {
      const authorizer = open();
      await authorizer.writeSchema(SCHEMA);
      await expectAppError(
        authorizer.writeData({ tuples: tuples("document:a#viewer@user:ann", "document:a#editor@user:ann") }),
        "DATA_INVALID",
      );
      expect(await authorizer.check(viewCheck("a", "ann"))).toBe(false);
    });

    it("keeps the newest snap token of its own writes", async () => {
      const authorizer = open();
      expect(authorizer.newestSnapToken()).toBeUndefined();
      await authorizer.writeSchema(SCHEMA);
      const first = await authorizer.writeData({ tuples: tuples("document:a#viewer@user:ann") });
      expect(first.snapToken).not.toBe("");
      expect(authorizer.newestSnapToken()).toBe(first.snapToken);
      const second = await authorizer.deleteData({ tuples: { entity: { type: "document", ids: ["a"] } } });
      expect(authorizer.newestSnapToken()).toBe(second.snapToken);
    });

    it("deletes `team:x` exactly, keeping `team:x#member` (Permify's filter reads an empty relation as any)", async () => {
      const authorizer = open();
      await authorizer.writeSchema(SCHEMA);
      await authorizer.writeData({
        tuples: tuples(
          "document:d#viewer@team:x",
          "document:d#viewer@team:x#member",
          "document:d#viewer@user:u",
        ),
      });
      await authorizer.deleteData({
        tuples: {
          entity: { type: "document", ids: ["d"] },
          relation: "viewer",
          subject: { type: "team", ids: ["x"], relation: "" },
        },
      });
      const left = await authorizer.readRelationships({
        filter: { entity: { type: "document", ids: ["d"] } },
      });
      expect(left.tuples.map(formatTuple).sort()).toEqual([
        "document:d#viewer@team:x#member",
        "document:d#viewer@user:u",
      ]);
      const direct = await authorizer.readRelationships({
        filter: { entity: { type: "document", ids: ["d"] }, subject: { relation: "" } },
      });
      expect(direct.tuples.map(formatTuple)).toEqual(["document:d#viewer@user:u"]);
    });
  });

  describe("reads", () => {
    it("answers checks through nested groups, attributes and contextual tuples", async () => {
      expect(await seeded.check(viewCheck("plan", "rita"))).toBe(true);
      expect(await seeded.check(viewCheck("plan", "olga"))).toBe(false);
      expect(await seeded.check(viewCheck("memo", "olga"))).toBe(true);
      expect(await seeded.check(viewCheck("faq", "nobody"))).toBe(true);
      expect(
        await seeded.check({
          ...viewCheck("memo", "nobody"),
          context: { tuples: tuples("document:memo#viewer@user:nobody") },
        }),
      ).toBe(true);
      expect(await seeded.check(viewCheck("memo", "nobody"))).toBe(false);
    });

    it("turns too deep an evaluation into DEPTH_EXCEEDED, never a denial", async () => {
      const authorizer = open({ depth: 5 });
      await authorizer.writeSchema(SCHEMA);
      const chain = Array.from({ length: 10 }, (_, i) => `document:c${i}#parent@document:c${i + 1}`);
      await authorizer.writeData({
        tuples: tuples(...chain, ...Array.from({ length: 11 }, (_, i) => `document:c${i}#owner@user:u`)),
      });
      await expectAppError(
        authorizer.check({
          entity: { type: "document", id: "c0" },
          permission: "chain",
          subject: { type: "user", id: "u" },
        }),
        "DEPTH_EXCEEDED",
      );
    });

    it("lists resources to the end through small pages, ascending", async () => {
      const authorizer = open();
      await authorizer.writeSchema(SCHEMA);
      const ids = Array.from({ length: 23 }, (_, i) => `doc-${String(i).padStart(2, "0")}`);
      await authorizer.writeData({ tuples: ids.map((id) => parseTuple(`document:${id}#viewer@user:lee`)) });
      const listed = await lookupAllResources(
        { lookupResources: (request) => authorizer.lookupResources({ ...request, pageSize: 4 }) },
        { entityType: "document", permission: "view", subject: { type: "user", id: "lee" } },
      );
      expect(listed).toEqual(ids);
      const subjects = await authorizer.lookupSubjects({
        entity: { type: "document", id: "plan" },
        permission: "view",
        subjectType: "user",
      });
      expect(subjects).toEqual({ ids: [] });
      expect(
        await seeded.lookupSubjects({
          entity: { type: "document", id: "plan" },
          permission: "view",
          subjectType: "user",
        }),
      ).toEqual({ ids: ["rita"] });
    });

    it("fails the whole list when a later page fails, never returning the pages before it", async () => {
      const authorizer = open({
        middleware: [failingMiddleware((path, ordinal) => path.endsWith("/LookupEntity") && ordinal === 3)],
      });
      await authorizer.writeSchema(SCHEMA);
      await authorizer.writeData({
        tuples: Array.from({ length: 12 }, (_, i) => parseTuple(`document:p${i}#viewer@user:pat`)),
      });
      await expectAppError(
        lookupAllResources(
          { lookupResources: (request) => authorizer.lookupResources({ ...request, pageSize: 3 }) },
          { entityType: "document", permission: "view", subject: { type: "user", id: "pat" } },
        ),
        "UPSTREAM_UNAVAILABLE",
      );
    });
  });

  describe("bulk checks", () => {
    const requests = (count: number): CheckRequest[] =>
      Array.from({ length: count }, (_, i) =>
        viewCheck(`b${i % 150}`, Math.floor(i / 150) % 2 === 0 ? "even" : "odd"),
      );

    it("de-duplicates, sends at most 100 items a call, and keeps the order of the requests", async () => {
      const calls: { path: string; request: unknown }[] = [];
      const authorizer = open({ middleware: [recordingMiddleware(calls)] });
      await authorizer.writeSchema(SCHEMA);
      await authorizer.writeData({
        tuples: Array.from({ length: 150 }, (_, i) => parseTuple(`document:b${i}#viewer@user:even`)),
      });
      const asked = requests(600); // 300 distinct (document, user) pairs
      const outcomes = await authorizer.checkMany(asked);
      const bulkCalls = calls.filter((call) => call.path.endsWith("/BulkCheck"));
      expect(bulkCalls.map((call) => (call.request as { items: unknown[] }).items.length)).toEqual([
        100, 100, 100,
      ]);
      expect(outcomes).toEqual(
        asked.map((request) => (request.subject.id === "even" ? "allowed" : "denied")),
      );
    });

    it("marks only the items of a failed call as failed", async () => {
      const authorizer = open({
        middleware: [failingMiddleware((path, ordinal) => path.endsWith("/BulkCheck") && ordinal === 2)],
        bulkConcurrency: 1,
      });
      await authorizer.writeSchema(SCHEMA);
      await authorizer.writeData({
        tuples: Array.from({ length: 150 }, (_, i) => parseTuple(`document:b${i}#viewer@user:even`)),
      });
      const asked = requests(300);
      const outcomes = (await authorizer.checkMany(asked)).map(outcomeName);
      expect(outcomes.filter((outcome) => outcome === "failed")).toHaveLength(100);
      outcomes.forEach((outcome, i) => {
        const expected = asked[i]?.subject.id === "even" ? "allowed" : "denied";
        if (outcome !== "failed") expect(outcome).toBe(expected);
      });
    });

    it("denies an item Permify cannot evaluate, and answers the others", async () => {
      const outcomes = await seeded.checkMany([
        viewCheck("plan", "rita"),
        {
          entity: { type: "document", id: "plan" },
          permission: "no_such_permission",
          subject: { type: "user", id: "rita" },
        },
        viewCheck("memo", "olga"),
      ]);
      expect(outcomes).toEqual(["allowed", "denied", "allowed"]);
    });

    it("throws when every call fails, so an unreachable Permify is an error rather than 'nothing allowed'", async () => {
      const authorizer = open({ middleware: [failingMiddleware((path) => path.endsWith("/BulkCheck"))] });
      await expectAppError(authorizer.checkMany(requests(10)), "UPSTREAM_UNAVAILABLE");
    });
  });

  describe("snapshots of reads", () => {
    it("reads at head by default and at its own newest write when asked to", async () => {
      const headCalls: { path: string; request: unknown }[] = [];
      const pinnedCalls: { path: string; request: unknown }[] = [];
      const tenant = uniqueTenant("snap");
      const head = open({ tenant, middleware: [recordingMiddleware(headCalls)] });
      const pinned = open({
        tenant,
        readConsistency: "own-writes",
        middleware: [recordingMiddleware(pinnedCalls)],
      });
      await head.writeSchema(SCHEMA);
      await pinned.check(viewCheck("x", "y"));
      const { snapToken } = await pinned.writeData({ tuples: tuples("document:x#viewer@user:y") });
      await head.writeData({ tuples: tuples("document:x#viewer@user:z") });
      expect(await pinned.check(viewCheck("x", "y"))).toBe(true);
      expect(await head.check(viewCheck("x", "y"))).toBe(true);
      const tokenOf = (call: { request: unknown }) =>
        (call.request as { metadata: { snapToken: string } }).metadata.snapToken;
      const pinnedChecks = pinnedCalls.filter((call) => call.path.endsWith("/Check"));
      expect(pinnedChecks.map(tokenOf)).toEqual(["", snapToken]);
      expect(headCalls.filter((call) => call.path.endsWith("/Check")).map(tokenOf)).toEqual([""]);
    });
  });
});

describeWithPermify("Permify adapter against a server of its own", () => {
  let server: PermifyServer;
  const KEY = "clearance-test-key";

  beforeAll(async () => {
    server = await startPermify({ engine: "memory" }, { presharedKey: KEY });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("authenticates with the preshared key and fails closed with a wrong one", async () => {
    const tenant = uniqueTenant("authn");
    const good = createPermifyAuthorizer({ endpoint: server.endpoint, tenant, token: KEY });
    const bad = createPermifyAuthorizer({ endpoint: server.endpoint, tenant, token: "wrong" });
    const none = createPermifyAuthorizer({ endpoint: server.endpoint, tenant });
    try {
      await good.writeSchema(SCHEMA);
      await good.writeData({ tuples: tuples("document:a#viewer@user:ann") });
      expect(await good.check(viewCheck("a", "ann"))).toBe(true);
      await good.probe();
      for (const client of [bad, none]) {
        await expectAppError(client.check(viewCheck("a", "ann")), "UPSTREAM_UNAVAILABLE");
        await expectAppError(client.probe(), "UPSTREAM_UNAVAILABLE");
      }
    } finally {
      await Promise.all([good.close(), bad.close(), none.close()]);
    }
  });

  it("gives UPSTREAM_UNAVAILABLE within its deadline when Permify stops answering, and recovers", async () => {
    const tenant = uniqueTenant("pause");
    const authorizer = createPermifyAuthorizer({
      endpoint: server.endpoint,
      tenant,
      token: KEY,
      timeouts: { readMs: 300 },
    });
    try {
      await authorizer.writeSchema(SCHEMA);
      await authorizer.writeData({ tuples: tuples("document:a#viewer@user:ann") });
      server.pause();
      try {
        for (const attempt of [
          () => authorizer.check(viewCheck("a", "ann")),
          () => authorizer.checkMany([viewCheck("a", "ann")]),
          () =>
            authorizer.lookupResources({
              entityType: "document",
              permission: "view",
              subject: { type: "user", id: "ann" },
            }),
          () => authorizer.probe(),
        ]) {
          const started = performance.now();
          await expectAppError(attempt(), "UPSTREAM_UNAVAILABLE");
          expect(performance.now() - started).toBeLessThan(3_000);
        }
      } finally {
        server.resume();
      }
      expect(await authorizer.check(viewCheck("a", "ann"))).toBe(true);
    } finally {
      await authorizer.close();
    }
  });
});

/** A CA and a server certificate for 127.0.0.1 signed by it, made with openssl for this run. */
function makeCertificates(dir: string): { caPath: string; certPath: string; keyPath: string } {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=clearance test CA",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
  );
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    file("server.key"),
    "-out",
    file("server.csr"),
  );
  writeFileSync(file("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  openssl(
    "x509",
    "-req",
    "-days",
    "1",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-extfile",
    file("ext.cnf"),
    "-out",
    file("server.pem"),
  );
  return { caPath: file("ca.pem"), certPath: file("server.pem"), keyPath: file("server.key") };
}

describeWithPermify("Permify adapter over TLS", () => {
  let server: PermifyServer;
  let dir: string;
  let caPem: Buffer;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "clearance-tls-"));
    const { caPath, certPath, keyPath } = makeCertificates(dir);
    caPem = readFileSync(caPath);
    server = await startPermify({ engine: "memory" }, { grpcTls: { certPath, keyPath } });
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("talks TLS to a server whose certificate the given CA signed, and refuses plaintext or another CA", async () => {
    const endpoint = `localhost:${server.ports.grpc}`;
    const tenant = uniqueTenant("tls");
    const trusted = createPermifyAuthorizer({ endpoint, tenant, tls: { caPem } });
    const plaintext = createPermifyAuthorizer({ endpoint, tenant, timeouts: { readMs: 1_000 } });
    const systemRoots = createPermifyAuthorizer({ endpoint, tenant, tls: {}, timeouts: { readMs: 1_000 } });
    try {
      await trusted.writeSchema(SCHEMA);
      await trusted.writeData({ tuples: tuples("document:a#viewer@user:ann") });
      expect(await trusted.check(viewCheck("a", "ann"))).toBe(true);
      for (const client of [plaintext, systemRoots]) {
        await expectAppError(client.check(viewCheck("a", "ann")), "UPSTREAM_UNAVAILABLE");
      }
    } finally {
      await Promise.all([trusted.close(), plaintext.close(), systemRoots.close()]);
    }
  });
});
