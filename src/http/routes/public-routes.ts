import { createRoute } from "@hono/zod-openapi";
import type { Logger } from "pino";
import { isAppError } from "../../core/errors.ts";
import type { App } from "../app-env.ts";
import { healthResponseSchema, readinessResponseSchema } from "../schemas.ts";

/** Something the readiness probe asks: each port's `probe()`, which throws when it cannot serve now. */
export interface Probe {
  probe(): Promise<void>;
}

/** The upstreams `/readyz` reports, by the name it reports them under. */
export interface ReadinessComponents {
  readonly authorizer: Probe;
  readonly vectorStore: Probe;
  readonly model: Probe;
}

export interface ComponentCheck {
  readonly status: "up" | "down";
  readonly latencyMs: number;
  readonly error?: string;
  readonly message?: string;
}

/** How long each probe may take before it counts as down. */
export const DEFAULT_READINESS_TIMEOUT_MS = 2_000;

/**
 * Routes that need no token: liveness, readiness, the API description and, in demo mode, the signing key
 * set.
 */
export function registerPublicRoutes(
  app: App,
  options: {
    readonly jwks?: { readonly keys: readonly object[] };
    readonly readiness: ReadinessComponents;
    readonly readinessTimeoutMs?: number;
    readonly logger: Logger;
  },
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/healthz",
      summary: "Liveness: the process is up and serving (asks no upstream)",
      responses: {
        200: { description: "Up", content: { "application/json": { schema: healthResponseSchema } } },
      },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );
  const timeoutMs = options.readinessTimeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
  app.openapi(
    createRoute({
      method: "get",
      path: "/readyz",
      summary: "Readiness: the authorizer, the vector store and the model each answer a probe",
      description:
        `Each upstream is probed in parallel, with ${timeoutMs} ms each. A component that is down reports ` +
        "an error code and a short reason; details go to the server log only.",
      responses: {
        200: {
          description: "Every upstream is up",
          content: { "application/json": { schema: readinessResponseSchema } },
        },
        503: {
          description: "At least one upstream is down",
          content: { "application/json": { schema: readinessResponseSchema } },
        },
      },
    }),
    async (c) => {
      const names = ["authorizer", "vectorStore", "model"] as const;
      const results = await Promise.all(names.map((name) => probeWithin(options.readiness[name], timeoutMs)));
      const checks = {
        authorizer: results[0] as ProbeResult,
        vectorStore: results[1] as ProbeResult,
        model: results[2] as ProbeResult,
      };
      const down: Record<string, string> = {};
      for (const name of names) {
        const result = checks[name];
        if (result.failure !== undefined) {
          down[name] = result.check.error ?? "INTERNAL";
          options.logger.warn(
            { requestId: c.get("requestId"), component: name, err: result.failure },
            "readiness probe failed",
          );
        }
      }
      const ready = Object.keys(down).length === 0;
      c.set("logFields", ready ? {} : { down });
      c.header("cache-control", "no-store");
      return c.json(
        {
          status: ready ? ("ready" as const) : ("unavailable" as const),
          checks: {
            authorizer: checks.authorizer.check,
            vectorStore: checks.vectorStore.check,
            model: checks.model.check,
          },
        },
        ready ? 200 : 503,
      );
    },
  );
  const { jwks } = options;
  if (jwks) {
    app.get("/.well-known/jwks.json", (c) => c.json(jwks));
  }
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "clearance",
      version: "0.1.0",
      description:
        "Permission-aware retrieval for RAG: every passage is authorized for the caller, and for every agent " +
        "acting for them, before any model sees it.",
    },
  });
}

interface ProbeResult {
  readonly check: ComponentCheck;
  /** The error, for the server log only: the response carries its code and a fixed reason. */
  readonly failure?: unknown;
}

/**
 * Runs one probe under a deadline. The public answer names only the error code and a fixed reason: an
 * upstream's own message may name hosts, ports or paths, which an unauthenticated caller has no need of.
 */
async function probeWithin(component: Probe, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const latency = () => Math.round(performance.now() - started);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = Symbol("timed out");
  try {
    const outcome = await Promise.race([
      component.probe(),
      new Promise<typeof timedOut>((resolve) => {
        timer = setTimeout(() => resolve(timedOut), timeoutMs);
      }),
    ]);
    if (outcome === timedOut) {
      return {
        check: {
          status: "down",
          latencyMs: latency(),
          error: "UPSTREAM_UNAVAILABLE",
          message: `no answer within ${timeoutMs} ms`,
        },
        failure: new Error(`the probe did not answer within ${timeoutMs} ms`),
      };
    }
    return { check: { status: "up", latencyMs: latency() } };
  } catch (error) {
    const code = isAppError(error) ? error.code : "INTERNAL";
    return {
      check: { status: "down", latencyMs: latency(), error: code, message: "the probe failed" },
      failure: error,
    };
  } finally {
    clearTimeout(timer);
  }
}
