/**
 * `GET /metrics`: Prometheus text with request, retrieval and upstream-error series, on the metrics
 * listener only (`createMetricsApp`, its own host and port). Labels are route patterns, strategies and
 * upstream names only; nothing the caller sent or may read. The public app has no `/metrics`: the series
 * count what callers were refused (issue 13, finding 2).
 */
import { describe, expect, it } from "vitest";
import { createPrometheusMetrics } from "../../../src/adapters/prometheus/prometheus-metrics.ts";
import { AppError } from "../../../src/core/errors.ts";
import { STRATEGIES } from "../../../src/core/retrieval.ts";
import type { App } from "../../../src/http/app-env.ts";
import { createSmallBank, postJson } from "../../helpers/small-bank.ts";
import { overridingAuthorizer } from "../../helpers/stub-adapters.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

const QUESTION = "card transaction dispute";

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition (comments skipped). */
function parseExposition(text: string): Sample[] {
  return text.split("\n").flatMap((line) => {
    const match = SAMPLE_LINE.exec(line);
    if (!match) return [];
    const labels = Object.fromEntries(
      [...(match[2] ?? "").matchAll(LABEL_PAIR)].map((pair) => [pair[1], pair[2]]),
    );
    return [{ name: match[1] as string, labels, value: Number(match[3]) }];
  });
}

/** The samples named `name` whose labels include every one of `labels`. */
function samples(all: readonly Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return all.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

/** The value of the one sample named `name` whose labels include `labels` (undefined: none). */
function sampleValue(
  all: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples(all, name, labels);
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

async function scrape(app: App): Promise<{ response: Response; text: string; samples: Sample[] }> {
  const response = await app.request("/metrics");
  const text = await response.text();
  return { response, text, samples: parseExposition(text) };
}

describe("the public listener carries no authorization counts (issue 13, finding 2)", () => {
  it("the attack: an anonymous GET /metrics on the public app is 404, before and after restricted matches", async () => {
    // Post-filter, so that the restricted chunks ranked above maria's are read and counted as withheld
    // (adaptive may pick pre-filter, which counts differently, depending on timing).
    const bank = await createSmallBank({ retrieval: { strategy: "post-filter" } });
    const anonymous = await bank.app.request("/metrics");
    expect(anonymous.status).toBe(404);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");

    // maria's question matches chunks she may not read (the AML legal hold, the executive memo).
    const token = await signTestToken({ sub: "maria" });
    const search = await postJson(bank.app, "/v1/search", { query: QUESTION, k: 20 }, token);
    expect(search.status).toBe(200);
    const [audited] = bank.auditLog.records;
    expect(audited?.withheld).toBeGreaterThan(0);

    for (const path of ["/metrics", "/metrics/", "/METRICS"]) {
      const response = await bank.app.request(path);
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).not.toContain("clearance_retrieval");
    }
    // What the caller gets back names no count of what was withheld or scanned: only passages.
    const body = (await search.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["passages"]);
    for (const header of search.headers.keys()) expect(["content-type", "x-request-id"]).toContain(header);
    // The operator's listener has the count.
    const { samples: all } = await scrape(bank.metricsApp);
    expect(sampleValue(all, "clearance_retrieval_withheld_total")).toBe(audited?.withheld);
  });

  it("the public API description does not list /metrics", async () => {
    const bank = await createSmallBank();
    const spec = (await (await bank.app.request("/openapi.json")).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(spec.paths)).not.toContain("/metrics");
  });
});

describe("GET /metrics on the metrics listener", () => {
  it("needs no token and answers Prometheus text 0.0.4", async () => {
    const bank = await createSmallBank();
    const { response, samples: all } = await scrape(bank.metricsApp);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    // Every upstream is there from the start, at zero, so a rate alert sees the first failure.
    expect(sampleValue(all, "clearance_upstream_errors_total", { upstream: "authorizer" })).toBe(0);
    // Default process metrics are off unless asked for.
    expect(samples(all, "process_cpu_user_seconds_total")).toEqual([]);
  });

  it("after a search: the request by route pattern and status, and one retrieval with its costs", async () => {
    const bank = await createSmallBank();
    const token = await signTestToken({ sub: "maria" });
    const search = await postJson(bank.app, "/v1/search", { query: QUESTION, k: 20 }, token);
    expect(search.status).toBe(200);

    const { samples: all } = await scrape(bank.metricsApp);
    expect(
      sampleValue(all, "clearance_http_requests_total", {
        route: "/v1/search",
        method: "POST",
        status: "200",
      }),
    ).toBe(1);
    expect(
      sampleValue(all, "clearance_http_request_duration_seconds_count", {
        route: "/v1/search",
        method: "POST",
      }),
    ).toBe(1);

    const retrievals = samples(all, "clearance_retrievals_total");
    expect(retrievals).toHaveLength(1);
    const [retrieval] = retrievals as [Sample];
    expect(retrieval.value).toBe(1);
    expect(STRATEGIES).toContain(retrieval.labels.strategy);
    expect(STRATEGIES).toContain(retrieval.labels.finished_with);
    expect(["adaptive", "configuration"]).toContain(retrieval.labels.chosen_by);

    for (const histogram of [
      "clearance_retrieval_candidates",
      "clearance_retrieval_authz_calls",
      "clearance_retrieval_authz_rounds",
    ]) {
      expect(sampleValue(all, `${histogram}_count`), histogram).toBe(1);
      expect(sampleValue(all, `${histogram}_bucket`, { le: "+Inf" }), histogram).toBe(1);
    }
    expect(
      sampleValue(all, "clearance_retrieval_duration_seconds_count", {
        strategy: retrieval.labels.strategy as string,
      }),
    ).toBe(1);
    // The withheld count is the audited one: told to operators, never to the caller.
    const [audited] = bank.auditLog.records;
    expect(sampleValue(all, "clearance_retrieval_withheld_total")).toBe(audited?.withheld);
  });

  it("an authorizer that fails: 503, and one upstream error for the authorizer", async () => {
    const healthy = await createSmallBank();
    const down = async () => {
      throw new AppError("UPSTREAM_UNAVAILABLE", "authorizer down");
    };
    const bank = await createSmallBank({
      authorizer: overridingAuthorizer(healthy.authorizer, { checkMany: down, lookupResources: down }),
    });
    const token = await signTestToken({ sub: "maria" });
    const before = (await scrape(bank.metricsApp)).samples;
    expect(sampleValue(before, "clearance_upstream_errors_total", { upstream: "authorizer" })).toBe(0);

    const response = await postJson(bank.app, "/v1/search", { query: QUESTION }, token);
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("UPSTREAM_UNAVAILABLE");

    const { samples: all } = await scrape(bank.metricsApp);
    expect(sampleValue(all, "clearance_upstream_errors_total", { upstream: "authorizer" })).toBe(1);
    expect(sampleValue(all, "clearance_upstream_errors_total", { upstream: "unknown" })).toBe(0);
    expect(
      sampleValue(all, "clearance_http_requests_total", {
        route: "/v1/search",
        method: "POST",
        status: "503",
      }),
    ).toBe(1);
    // A retrieval that failed is not counted as one.
    expect(samples(all, "clearance_retrievals_total")).toEqual([]);
  });

  it("a path no route matches is labelled unmatched, never by its raw path", async () => {
    const bank = await createSmallBank();
    const token = await signTestToken({ sub: "maria" });
    const withToken = await bank.app.request("/v1/documents/maria-statement", {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(withToken.status).toBe(404);
    const anonymous = await bank.app.request("/no-such-page/0123456789");
    expect(anonymous.status).toBe(404);

    const { text, samples: all } = await scrape(bank.metricsApp);
    expect(
      sampleValue(all, "clearance_http_requests_total", { route: "unmatched", method: "GET", status: "404" }),
    ).toBe(2);
    for (const sample of samples(all, "clearance_http_requests_total")) {
      expect(["unmatched", "/metrics"]).toContain(sample.labels.route);
    }
    expect(text).not.toContain("/v1/documents/maria-statement");
    expect(text).not.toContain("no-such-page");
  });

  it("names no user, agent, query or document the requests carried", async () => {
    const bank = await createSmallBank();
    const callers = [
      { sub: "maria" },
      { sub: "victor" },
      { sub: "lena" },
      { sub: "maria", agents: ["support-assistant"] },
    ];
    for (const caller of callers) {
      const token = await signTestToken(caller);
      expect((await postJson(bank.app, "/v1/search", { query: QUESTION, k: 20 }, token)).status).toBe(200);
      expect((await postJson(bank.app, "/v1/answer", { query: QUESTION }, token)).status).toBe(200);
      const documents = await bank.app.request("/v1/documents", {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(documents.status).toBe(200);
    }

    const { text, samples: all } = await scrape(bank.metricsApp);
    expect(sampleValue(all, "clearance_http_requests_total", { route: "/v1/answer", status: "200" })).toBe(4);
    expect(samples(all, "clearance_retrievals_total").reduce((sum, s) => sum + s.value, 0)).toBe(8);
    const forbidden = [
      "maria",
      "victor",
      "lena",
      "support-assistant",
      QUESTION,
      ...QUESTION.split(" "),
      "help-disputes",
      "maria-statement",
      "aml-policy",
      "aml-legal-hold",
      "exec-memo",
    ];
    for (const word of forbidden) expect(text, word).not.toContain(word);
  });

  it("each app has its own registry: one app's requests never show in another's", async () => {
    expect(() => [createPrometheusMetrics(), createPrometheusMetrics()]).not.toThrow();
    const first = await createSmallBank();
    const second = await createSmallBank();
    const token = await signTestToken({ sub: "maria" });
    expect((await postJson(first.app, "/v1/search", { query: QUESTION }, token)).status).toBe(200);
    const { samples: all } = await scrape(second.metricsApp);
    expect(samples(all, "clearance_http_requests_total", { route: "/v1/search" })).toEqual([]);
    expect(samples(all, "clearance_retrievals_total")).toEqual([]);
  });
});
