/**
 * The widget and the console in a real browser: Debian's Chromium driven by playwright-core, against a
 * real clearance (the fixture bank ingested into a temporary data directory, demo identity) and a bank
 * page served from another origin. Without Chromium these tests skip loudly; under CI they fail.
 * Chromium: CHROMIUM_PATH, else `chromium` on PATH (`apt-get install chromium`; .ci/run installs it).
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestManifest } from "../../ingest/ingest.ts";
import { loadDemoIdentity } from "../../src/adapters/demo-identity/demo-identity.ts";
import { openRuntime, type Runtime } from "../../src/composition.ts";
import { loadConfig } from "../../src/config.ts";
import { type RunningServer, startServer } from "../../src/server.ts";

/** The page's document, as the callbacks run in the browser use it (this project compiles without DOM types). */
declare const document: {
  readonly scripts: { readonly length: number };
  readonly activeElement: { readonly id: string; readonly tagName: string } | null;
  querySelectorAll(selector: string): { readonly length: number };
  querySelector(
    selector: string,
  ): { readonly shadowRoot: { readonly activeElement: { readonly id: string } | null } | null } | null;
};

const README_QUESTION = "Is the Pier Street branch closing, and what happens to my safe deposit box?";
const SCREENSHOTS = fileURLToPath(new URL("../../docs/screenshots/", import.meta.url));

function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const chromiumPath = findChromium();
if (chromiumPath === undefined) {
  const message =
    "BROWSER TESTS SKIPPED: no Chromium (set CHROMIUM_PATH or `apt-get install chromium`); under CI they fail";
  if (process.env.CI) throw new Error(message);
  console.warn(`\n*** ${message} ***\n`);
}

/** The bank's page, on another origin: it embeds the widget and hands it the customer's token. */
function bankPage(clearanceUrl: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Harbor Federal: help</title>
<link rel="stylesheet" href="/bank.css">
<script src="${clearanceUrl}/widget.js"></script><script src="/bank.js" defer></script></head>
<body><h1>Harbor Federal Bank</h1><p>Questions about your accounts? Ask below.</p>
<clearance-chat api-url="${clearanceUrl}" heading="Ask Harbor Federal"></clearance-chat></body></html>`;
}

// The bank's own styles try to reach into the widget; the shadow root keeps them out.
const BANK_CSS =
  "* { color: rgb(255, 0, 0) !important; font-family: serif !important; } textarea { display: none; }";

const BANK_JS = `
window.tokenRequests = [];
document.querySelector("clearance-chat").getToken = async ({ refresh }) => {
  window.tokenRequests.push(refresh);
  const ttl = window.nextTokenTtl ?? 600;
  window.nextTokenTtl = undefined;
  const response = await fetch("/customer-token?ttl=" + ttl);
  return (await response.json()).token;
};`;

describe.skipIf(chromiumPath === undefined)("the widget and the console in Chromium", () => {
  let dataDir: string;
  let runtime: Runtime;
  let server: RunningServer;
  let bank: Server;
  let bankOrigin: string;
  let browser: Browser;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "clearance-e2e-"));
    bank = createServer();
    await new Promise<void>((resolve) => bank.listen(0, "127.0.0.1", resolve));
    bankOrigin = `http://localhost:${(bank.address() as AddressInfo).port}`;
    const config = loadConfig({
      CLEARANCE_DATA_DIR: dataDir,
      PORT: "0",
      LOG_LEVEL: "silent",
      AUTH_CLOCK_TOLERANCE_SECONDS: "0",
      CORS_ALLOWED_ORIGINS: bankOrigin,
      AUTH_MODE: "demo",
      METRICS_PORT: "off",
    });
    runtime = await openRuntime(config);
    // The operator loads the fixture bank: its schema and every relationship.
    const report = await ingestManifest({
      schemaChange: { allow: true },
      relationshipScope: "any",
      manifestPath: fileURLToPath(new URL("../../fixtures/manifest.yaml", import.meta.url)),
      authorizer: runtime.authorizer,
      vectorStore: runtime.vectorStore,
      embedder: runtime.embedder,
    });
    expect(report.failed).toBe(0);
    server = await startServer(runtime, pino({ level: "silent" }));
    const identity = await loadDemoIdentity(dataDir);
    bank.on("request", async (request, response) => {
      const url = new URL(request.url ?? "/", bankOrigin);
      const send = (type: string, body: string) => {
        response.writeHead(200, {
          "content-type": type,
          // The bank's own strict policy: scripts from itself and clearance, requests to clearance only.
          "content-security-policy": `default-src 'self'; script-src 'self' ${server.url}; connect-src 'self' ${server.url}; img-src 'self'`,
        });
        response.end(body);
      };
      if (url.pathname === "/") send("text/html", bankPage(server.url));
      else if (url.pathname === "/bank.js") send("text/javascript", BANK_JS);
      else if (url.pathname === "/bank.css") send("text/css", BANK_CSS);
      else if (url.pathname === "/customer-token") {
        // The bank's backend knows its signed-in customer; here, Maria.
        const token = await identity.sign({
          sub: "maria",
          audience: "clearance",
          ttlSeconds: Number(url.searchParams.get("ttl") ?? 600),
        });
        send("application/json", JSON.stringify({ token }));
      } else {
        response.writeHead(404).end();
      }
    });
    browser = await chromium.launch({
      executablePath: chromiumPath as string,
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    });
    await mkdir(SCREENSHOTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await runtime?.close();
    await new Promise<void>((resolve) => (bank ? bank.close(() => resolve()) : resolve()));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** A page that records dialogs and every request leaving for an origin other than the allowed ones. */
  async function watchedPage(allowedOrigins: readonly string[]) {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const dialogs: string[] = [];
    const foreign: string[] = [];
    const requests: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on("request", (request) => {
      requests.push(request.url());
      const url = request.url();
      if (url.startsWith("data:")) return;
      if (!allowedOrigins.includes(new URL(url).origin)) foreign.push(url);
    });
    return { page, dialogs, foreign, requests };
  }

  async function widgetAsk(page: Page, question: string) {
    const textarea = page.locator("clearance-chat textarea");
    await textarea.fill(question);
    await textarea.press("Enter");
    await page.locator("clearance-chat .sources li").first().waitFor({ timeout: 20_000 });
  }

  it("streams an answer for a customer in the widget on a page of another origin", async () => {
    const { page, dialogs, foreign } = await watchedPage([bankOrigin, server.url]);
    const streamed: string[] = [];
    page.on("response", (response) => {
      if (response.url().endsWith("/v1/answer")) streamed.push(response.headers()["content-type"] ?? "");
    });
    await page.goto(bankOrigin);
    await widgetAsk(page, "How many rewards points do I need for a travel voucher?");
    expect(streamed).toEqual([expect.stringContaining("text/event-stream")]);
    const answer = await page.locator("clearance-chat .answer").innerText();
    expect(answer).toContain("rewards points");
    expect(answer).toMatch(/\[1\]/);
    const titles = await page.locator("clearance-chat .sources li").allInnerTexts();
    expect(titles.length).toBeGreaterThan(0);
    // The bank's stylesheet does not reach into the shadow root.
    const color = await page
      .locator("clearance-chat textarea")
      .evaluate(
        (node) =>
          (globalThis as unknown as { getComputedStyle(n: unknown): { color: string } }).getComputedStyle(
            node,
          ).color,
      );
    expect(color).not.toBe("rgb(255, 0, 0)");
    await expect.poll(() => page.locator("clearance-chat textarea").isVisible()).toBe(true);
    expect(dialogs).toEqual([]);
    expect(foreign).toEqual([]);
    await page.locator("clearance-chat").screenshot({ path: join(SCREENSHOTS, "widget.png") });
    await page.close();
  });

  it("keeps the hostile documents inert in the widget: shown as text, no dialog, no script, no request out", async () => {
    const { page, dialogs, foreign } = await watchedPage([bankOrigin, server.url]);
    await page.goto(bankOrigin);
    await widgetAsk(
      page,
      "Is my travel notice for Lisbon on file, and do I redeem rewards points for a voucher?",
    );
    const titles = (await page.locator("clearance-chat .sources li").allInnerTexts()).join("\n");
    expect(titles).toMatch(/<script>alert\('travel'\)<\/script>|<img src=x onerror/);
    const injected = await page
      .locator("clearance-chat")
      .evaluate(
        (host) =>
          host.shadowRoot?.querySelectorAll("script, img, svg, iframe, a, [onerror], [onclick]").length,
      );
    expect(injected).toBe(0);
    await page.waitForTimeout(300);
    expect(dialogs).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
  });

  it("asks the page for a fresh token once when the customer's token has expired", async () => {
    const { page } = await watchedPage([bankOrigin, server.url]);
    await page.goto(bankOrigin);
    await page.evaluate(() => {
      (globalThis as unknown as { nextTokenTtl: number }).nextTokenTtl = 1;
    });
    // The first token lives 1 s; it is expired by the time it reaches the server (no clock leeway).
    await page.route(`${server.url}/v1/answer`, async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await route.continue();
    });
    await widgetAsk(page, "How many rewards points do I need for a travel voucher?");
    expect(
      await page.evaluate(() => (globalThis as unknown as { tokenRequests: boolean[] }).tokenRequests),
    ).toEqual([false, true]);
    await page.close();
  });

  async function consolePage(person: string, agent = "") {
    const watched = await watchedPage([server.url]);
    await watched.page.goto(`${server.url}/console`);
    await watched.page.locator("body[data-ready=true]").waitFor();
    await watched.page.selectOption("#person", person);
    await watched.page.selectOption("#agent", agent);
    await watched.page.click("#demo-sign-in button[type=submit]");
    await watched.page.locator("#who", { hasText: "Asking as" }).waitFor();
    return watched;
  }

  it("shows, for the README's question, the citations the README promises for four people", async () => {
    const { page, foreign } = await watchedPage([server.url]);
    await page.goto(`${server.url}/console`);
    await page.locator("body[data-ready=true]").waitFor();
    await page.click("#compare");
    const columns = page.locator("#comparison-grid article");
    await expect.poll(() => columns.count()).toBe(4);
    const cited = async (principal: string) => {
      const column = page.locator(`#comparison-grid article[data-principal="${principal}"]`);
      await column.locator(".answer[aria-busy=false]").waitFor({ timeout: 20_000 });
      const ids = await column
        .locator("li")
        .evaluateAll((items) =>
          items.map(
            (item) => (item as unknown as { dataset: { documentId?: string } }).dataset.documentId ?? "",
          ),
        );
      return [...new Set(ids)].sort();
    };
    // As the README's table says (hybrid ranking): the fee schedule and two help pages naming the branch.
    expect(await cited("maria")).toEqual([
      "agreement-fee-schedule",
      "help-lost-stolen-card",
      "help-mobile-check-deposit",
    ]);
    expect(await cited("tom")).toEqual(["teller-opening-and-closing", "teller-safe-deposit-boxes"]);
    const victor = await cited("victor");
    expect(victor).toContain("exec-branch-consolidation");
    expect(victor).toContain("teller-safe-deposit-boxes");
    // The teller handbook only: the agent may not read executive memos, so neither may Victor through it.
    const assisted = await cited("support-assistant>victor");
    expect(assisted).toContain("teller-safe-deposit-boxes");
    expect(assisted.every((id) => id.startsWith("teller-"))).toBe(true);
    expect(foreign).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, "console.png"), fullPage: true });
    await page.close();
  });

  it("opens a cited passage and lists what the person may read; hostile text stays text", async () => {
    const { page, dialogs, foreign } = await consolePage("maria");
    await page.fill(
      "#question",
      "How many rewards points do I need for a travel voucher, and what is the redemption value?",
    );
    await page.click("#ask");
    await page.locator("#citations li button").first().waitFor({ timeout: 20_000 });
    await page.locator("#citations li button", { hasText: "Secure messages" }).first().click();
    await expect.poll(() => page.locator("#passage").isVisible()).toBe(true);
    const passage = await page.locator("#passage-text").innerText();
    expect(passage).toContain("<script>");
    expect(passage).toContain("javascript:alert");
    expect(await page.locator("#passage-title").innerText()).toContain("<img src=x onerror=");
    await page.click("#list-readable");
    await page.locator("#readable li").first().waitFor();
    const readable = await page.locator("#readable li").allInnerTexts();
    expect(readable.length).toBe(15);
    expect(
      await page.evaluate(() => document.querySelectorAll("img, svg, iframe, [onerror], [onclick]").length),
    ).toBe(0);
    expect(await page.evaluate(() => document.scripts.length)).toBe(1);
    await page.waitForTimeout(300);
    expect(dialogs).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
  });

  it("takes the re-login path when the console's token has expired", async () => {
    const { page } = await watchedPage([server.url]);
    let issued = 0;
    await page.route(`${server.url}/demo/token`, async (route) => {
      issued += 1;
      const body = JSON.parse(route.request().postData() ?? "{}");
      // The first token lives one second.
      await route.continue({ postData: JSON.stringify(issued === 1 ? { ...body, ttlSeconds: 1 } : body) });
    });
    await page.goto(`${server.url}/console`);
    await page.locator("body[data-ready=true]").waitFor();
    await page.selectOption("#person", "tom");
    await page.click("#demo-sign-in button[type=submit]");
    await page.locator("#who", { hasText: "Asking as" }).waitFor();
    await page.waitForTimeout(1_500);
    await page.click("#ask");
    await page.locator("#citations li").first().waitFor({ timeout: 20_000 });
    expect(issued).toBe(2);
    expect(await page.locator("#status").innerText()).toBe("");
    await page.close();
  });

  it("works by keyboard alone, in the console and in the widget", async () => {
    const { page } = await watchedPage([server.url]);
    await page.goto(`${server.url}/console`);
    await page.locator("body[data-ready=true]").waitFor();
    const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
    await page.keyboard.press("Tab"); // the skip link
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("person");
    await page.keyboard.press("ArrowDown"); // James
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("agent");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await page.locator("#who", { hasText: "Asking as James" }).waitFor();
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("question");
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("k");
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("ask");
    await page.keyboard.press("Enter");
    await page.locator("#citations li button").first().waitFor({ timeout: 20_000 });
    expect(await page.locator("#answer").getAttribute("aria-live")).toBe("polite");
    await page.close();

    const widget = await watchedPage([bankOrigin, server.url]);
    await widget.page.goto(bankOrigin);
    await widget.page.keyboard.press("Tab");
    const inWidget = await widget.page.evaluate(
      () => document.querySelector("clearance-chat")?.shadowRoot?.activeElement?.id,
    );
    expect(inWidget).toBe("question");
    await widget.page.keyboard.type("How many rewards points do I need for a travel voucher?");
    await widget.page.keyboard.press("Enter");
    await widget.page.locator("clearance-chat .sources li").first().waitFor({ timeout: 20_000 });
    const label = await widget.page.locator("clearance-chat label").innerText();
    expect(label).toBe("Your question");
    await widget.page.close();
  });

  it("measures the time to the first streamed event against a search's (p50; printed, aim 1.2x)", async () => {
    const identity = await loadDemoIdentity(dataDir);
    const token = await identity.sign({ sub: "victor", audience: "clearance", ttlSeconds: 600 });
    const body = JSON.stringify({ query: README_QUESTION, k: 4 });
    const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
    const search: number[] = [];
    const firstEvent: number[] = [];
    const firstChunks: string[] = [];
    for (let round = 0; round < 25; round++) {
      let started = performance.now();
      await (await fetch(`${server.url}/v1/search`, { method: "POST", headers, body })).text();
      search.push(performance.now() - started);
      started = performance.now();
      const response = await fetch(`${server.url}/v1/answer`, {
        method: "POST",
        headers: { ...headers, accept: "text/event-stream" },
        body,
      });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const { value } = await reader.read();
      firstEvent.push(performance.now() - started);
      firstChunks.push(new TextDecoder().decode(value));
      // Read to the end, so that this answer's last audit record is not written during the next search.
      while (!(await reader.read()).done);
    }
    const p50 = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    const ratio = p50(firstEvent) / p50(search);
    console.log(
      `time to first event p50 ${p50(firstEvent).toFixed(2)} ms; /v1/search p50 ${p50(search).toFixed(2)} ms; ratio ${ratio.toFixed(2)}`,
    );
    // A measurement, not a timed assertion: the aim is 1.2x, and over a real socket on an idle machine it
    // measures 1.2x to 1.4x; inside the whole suite, with other files on two cores, the figure means little.
    // What was timed is the answer's first event: the passages the model is given.
    expect(firstChunks.every((chunk) => chunk.includes("event: passages"))).toBe(true);
  });
});
