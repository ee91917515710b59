/**
 * Use case: whether clearance can serve now. The authorizer, the vector store and the model are probed in
 * parallel, each under a deadline. A component that is down shows only its error code and a fixed reason:
 * an upstream's own message may name hosts, ports or paths, which an unauthenticated caller has no need
 * of; the failure itself goes to the log.
 */
import { isAppError } from "../core/errors.ts";
import type { Logger } from "../ports/telemetry.ts";

/** Something the readiness probe asks: each port's `probe()`, which throws when it cannot serve now. */
export interface Probe {
  probe(): Promise<void>;
}

/** The upstreams readiness reports, by the name it reports them under. */
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

export interface Readiness {
  readonly ready: boolean;
  readonly checks: { readonly [name in keyof ReadinessComponents]: ComponentCheck };
  /** The components that are down, by error code, for the request log line. */
  readonly down: Readonly<Record<string, string>>;
}

/** How long each probe may take before it counts as down. */
export const DEFAULT_READINESS_TIMEOUT_MS = 2_000;

export async function checkReadiness(
  components: ReadinessComponents,
  options: { readonly timeoutMs: number; readonly logger: Logger; readonly requestId: string },
): Promise<Readiness> {
  const names = ["authorizer", "vectorStore", "model"] as const;
  const results = await Promise.all(names.map((name) => probeWithin(components[name], options.timeoutMs)));
  const down: Record<string, string> = {};
  names.forEach((name, index) => {
    const result = results[index] as ProbeResult;
    if (result.failure !== undefined) {
      down[name] = result.check.error ?? "INTERNAL";
      options.logger.warn(
        { requestId: options.requestId, component: name, err: result.failure },
        "readiness probe failed",
      );
    }
  });
  return {
    ready: Object.keys(down).length === 0,
    checks: {
      authorizer: (results[0] as ProbeResult).check,
      vectorStore: (results[1] as ProbeResult).check,
      model: (results[2] as ProbeResult).check,
    },
    down,
  };
}

interface ProbeResult {
  readonly check: ComponentCheck;
  /** The error, for the server log only: the response carries its code and a fixed reason. */
  readonly failure?: unknown;
}

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
