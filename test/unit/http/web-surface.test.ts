import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config.ts";
import type { WebSurface } from "../../../src/http/routes/web-routes.ts";
import { buildWebAssets } from "../../../src/web/build-web-assets.ts";
import { createSmallBank, postJson, type SmallBank } from "../../helpers/small-bank.ts";
import { signTestToken } from "../../helpers/test-identity.ts";

const BANK_ORIGIN = "https://www.harbor-federal.example";
const LOOPBACK = { incoming: { socket: { remoteAddress: "127.0.0.1" } } };
const REMOTE = { incoming: { socket: { remoteAddress: "203.0.113.9" } } };

let assets: Awaited<ReturnType<typeof buildWebAssets>>;
beforeAll(async () => {
  assets = await buildWebAssets();
});

function demoWeb(): WebSurface {
  return {
    assets,
    signIn: { mode: "demo" },
    demo: {
      people: { users: [{ id: "maria", name: "Maria", role: "customer" }], agents: [], showcase: [] },
      issue: async ({ sub }) => signTestToken({ sub }),
    },
  };
}

describe("CORS", () => {
  let bank: SmallBank;
  beforeAll(async () => {
    bank = await createSmallBank({ corsAllowedOrigins: [BANK_ORIGIN] });
  });

  it("answers a preflight from an allowed origin before authentication, without credentials", async () => {
    const response = await bank.app.request("/v1/answer", {
      method: "OPTIONS",
      headers: {
        origin: BANK_ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(BANK_ORIGIN);
    expect(response.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("allows no other origin, by exact match", async () => {
    for (const origin of ["https://evil.example", `${BANK_ORIGIN}.evil.example`, "null"]) {
      const response = await bank.app.request("/v1/answer", {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST" },
      });
      expect(response.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("marks an authenticated cross-origin answer readable by the allowed origin only; a missing token is still 401", async () => {
    const token = await signTestToken({ sub: "maria" });
    const allowed = await bank.app.request("/v1/search", {
      method: "POST",
      headers: { origin: BANK_ORIGIN, "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: "card dispute" }),
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(BANK_ORIGIN);
    const anonymous = await postJson(bank.app, "/v1/search", { query: "card dispute" });
    expect(anonymous.status).toBe(401);
  });

  it("allows no origin by default", async () => {
    const plain = await createSmallBank();
    const response = await plain.app.request("/v1/answer", {
      method: "OPTIONS",
      headers: { origin: BANK_ORIGIN, "access-control-request-method": "POST" },
    });
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("reads CORS_ALLOWED_ORIGINS as exact origins and refuses anything else", () => {
    expect(loadConfig({ CORS_ALLOWED_ORIGINS: `${BANK_ORIGIN}, http://localhost:3000` }).web).toEqual({
      corsAllowedOrigins: [BANK_ORIGIN, "http://localhost:3000"],
    });
    expect(loadConfig({}).web.corsAllowedOrigins).toEqual([]);
    for (const bad of ["*", "https://bank.example/path", "ftp://bank.example", "bank.example"]) {
      expect(() => loadConfig({ CORS_ALLOWED_ORIGINS: bad })).toThrow(/CORS_ALLOWED_ORIGINS/);
    }
  });
});

describe("the widget and the console are served with a strict Content-Security-Policy", () => {
  it("serves /console, its script and style, and /widget.js with no inline script and no other origin", async () => {
    const bank = await createSmallBank({ web: demoWeb() });
    for (const path of ["/console", "/console/console.js", "/console/console.css", "/widget.js"]) {
      const response = await bank.app.request(path);
      expect(response.status, path).toBe(200);
      const csp = response.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).not.toMatch(/https?:/);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    }
    const html = await (await bank.app.request("/console")).text();
    // Every <script> has a src on this origin and no body.
    expect(html.match(/<script\b[^>]*>[^<]+<\/script>/g)).toBeNull();
    expect(html.match(/<script\b/g)?.length).toBe(1);
    expect(html).not.toMatch(/\s on[a-z]+=/i);
  });

  it("lets the console reach the issuer, and only it, when it signs in with OpenID Connect", async () => {
    const bank = await createSmallBank({
      web: {
        assets,
        signIn: {
          mode: "oidc",
          authority: "https://id.harbor-federal.example/realms/staff",
          clientId: "c",
          scope: "openid",
        },
      },
    });
    const response = await bank.app.request("/console");
    expect(response.headers.get("content-security-policy")).toContain(
      "connect-src 'self' https://id.harbor-federal.example;",
    );
    expect((await bank.app.request("/demo/people", {}, LOOPBACK)).status).toBe(404);
  });

  it("keeps the widget script under 30 KB gzipped", () => {
    expect(gzipSync(assets.widgetJs).length).toBeLessThan(30 * 1024);
  });

  it("never renders server text as HTML in the web sources", async () => {
    const root = new URL("../../../src/web/", import.meta.url).pathname;
    const files = (await readdir(root, { recursive: true })).filter((file) => /\.(ts|html)$/.test(file));
    expect(files.length).toBeGreaterThan(3);
    for (const file of files) {
      const text = await readFile(join(root, file), "utf8");
      expect(text, file).not.toMatch(
        /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/,
      );
    }
  });
});

describe("demo tokens for the console", () => {
  it("issues a token on loopback in demo mode, for a JSON body only", async () => {
    const bank = await createSmallBank({ web: demoWeb() });
    const request = (env: object, headers: Record<string, string> = {}) =>
      bank.app.request(
        "/demo/token",
        {
          method: "POST",
          headers: { host: "127.0.0.1:8080", "content-type": "application/json", ...headers },
          body: JSON.stringify({ sub: "maria" }),
        },
        env,
      );
    const issued = await request(LOOPBACK);
    expect(issued.status).toBe(200);
    const { token } = (await issued.json()) as { token: string };
    const search = await postJson(bank.app, "/v1/search", { query: "card dispute" }, token);
    expect(search.status).toBe(200);
    expect((await request(REMOTE)).status).toBe(404);
    expect((await request(LOOPBACK, { host: "rebound.evil.example" })).status).toBe(404);
    expect((await request(LOOPBACK, { "content-type": "text/plain" })).status).toBe(400);
    expect(
      (await bank.app.request("/demo/people", { headers: { host: "localhost" } }, LOOPBACK)).status,
    ).toBe(200);
  });

  it("does not exist outside demo mode", async () => {
    const bank = await createSmallBank({ web: { assets, signIn: { mode: "none" } } });
    const response = await bank.app.request(
      "/demo/token",
      { method: "POST", headers: { host: "127.0.0.1", "content-type": "application/json" }, body: "{}" },
      LOOPBACK,
    );
    expect(response.status).toBe(404);
  });
});
