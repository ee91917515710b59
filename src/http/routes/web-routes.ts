/**
 * The web surface's static routes: the customer chat widget (`/widget.js`), the staff console
 * (`/console`), the console's settings, and, in demo mode only, demo tokens for the console's person
 * picker. The widget and the console call the public API like any client; nothing here authorizes.
 */
import type { Context } from "hono";
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { App, AppEnv } from "../app-env.ts";

/** The built pages and scripts (see src/web/build-web-assets.ts), served as they are. */
export interface WebAssets {
  readonly widgetJs: string;
  readonly consoleHtml: string;
  readonly consoleJs: string;
  readonly consoleCss: string;
}

/** How the console signs its user in: demo tokens, the bank's OpenID Connect provider, or not at all. */
export type ConsoleSignIn =
  | { readonly mode: "demo" }
  | { readonly mode: "oidc"; readonly authority: string; readonly clientId: string; readonly scope: string }
  | { readonly mode: "none" };

export interface DemoPerson {
  readonly id: string;
  readonly name: string;
  readonly role: string;
}

/** Demo identity only: who the picker offers, and a signer for their tokens. */
export interface DemoTokens {
  readonly people: {
    readonly users: readonly DemoPerson[];
    readonly agents: readonly DemoPerson[];
    /** Principals the console compares side by side. */
    readonly showcase: readonly {
      readonly sub: string;
      readonly agents: readonly string[];
      readonly label: string;
    }[];
  };
  issue(request: { sub: string; agentIds: readonly string[]; ttlSeconds: number }): Promise<string>;
}

export interface WebSurface {
  readonly assets: WebAssets;
  readonly signIn: ConsoleSignIn;
  /** Present only in demo mode; then `/demo/*` exists, and answers only on loopback. */
  readonly demo?: DemoTokens;
}

const ID = /^[A-Za-z0-9_\-@.:+]{1,128}$/;
const DEFAULT_DEMO_TTL_SECONDS = 15 * 60;

const demoTokenRequestSchema = z.strictObject({
  sub: z.string().regex(ID),
  agents: z.array(z.string().regex(ID)).max(4).default([]),
  ttlSeconds: z.number().int().min(1).max(3_600).default(DEFAULT_DEMO_TTL_SECONDS),
});

/**
 * The pages' Content-Security-Policy: scripts and styles only from clearance itself (no inline script,
 * no third-party origin), requests only to clearance (and, with OpenID Connect, to the issuer for its
 * discovery document and token endpoint), no images from elsewhere, no framing, no forms, no base tag.
 * Untrusted text (passages, titles, answers) is rendered as text, never as HTML; this is the second line.
 */
export function contentSecurityPolicy(signIn: ConsoleSignIn): string {
  const connect = signIn.mode === "oidc" ? `'self' ${new URL(signIn.authority).origin}` : "'self'";
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export function registerWebRoutes(app: App, web: WebSurface): void {
  const csp = contentSecurityPolicy(web.signIn);
  const page = (c: Context<AppEnv>, body: string, contentType: string, cache = "no-cache") => {
    c.header("Content-Security-Policy", csp);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", cache);
    c.header("Content-Type", contentType);
    return c.body(body, 200);
  };

  app.get("/widget.js", (c) => {
    // A bank's page on another origin loads it with a plain <script src>.
    c.header("Cross-Origin-Resource-Policy", "cross-origin");
    return page(c, web.assets.widgetJs, "text/javascript; charset=utf-8", "public, max-age=300");
  });
  app.get("/console", (c) => page(c, web.assets.consoleHtml, "text/html; charset=utf-8"));
  app.get("/console/", (c) => c.redirect("/console", 301));
  app.get("/console/console.js", (c) => page(c, web.assets.consoleJs, "text/javascript; charset=utf-8"));
  app.get("/console/console.css", (c) => page(c, web.assets.consoleCss, "text/css; charset=utf-8"));
  app.get("/console/settings.json", (c) => {
    c.header("Cache-Control", "no-store");
    return c.json({ signIn: web.signIn });
  });

  const { demo } = web;
  if (demo === undefined) return;
  app.get("/demo/people", (c) => {
    requireLoopback(c);
    return c.json(demo.people);
  });
  app.post("/demo/token", async (c) => {
    requireLoopback(c);
    // A JSON body only: a page on another origin cannot send one without a preflight, which /demo/* never
    // answers with CORS headers, so no other site can mint tokens through a browser on this machine.
    if (!(c.req.header("content-type") ?? "").startsWith("application/json")) {
      throw new AppError("BAD_REQUEST", "body: must be application/json");
    }
    const parsed = demoTokenRequestSchema.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) throw new AppError("BAD_REQUEST", "body: sub, agents and ttlSeconds expected");
    const { sub, agents, ttlSeconds } = parsed.data;
    const token = await demo.issue({ sub, agentIds: agents, ttlSeconds });
    c.header("Cache-Control", "no-store");
    return c.json({ token, expiresIn: ttlSeconds });
  });
}

const LOOPBACK_ADDRESSES = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Demo tokens are for the person at this machine: the peer must be a loopback address, and the Host a
 * loopback name (so a DNS-rebinding page cannot reach it through a name of its own). Elsewhere the
 * route does not exist (404), not even as a refusal.
 */
function requireLoopback(c: Context<AppEnv>): void {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  const peer = env?.incoming?.socket?.remoteAddress;
  const host = (c.req.header("host") ?? "").replace(/:\d+$/, "").toLowerCase();
  if (peer === undefined || !LOOPBACK_ADDRESSES.has(peer) || !LOOPBACK_HOSTS.has(host)) {
    throw new AppError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`);
  }
}
