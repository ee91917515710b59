/**
 * Serving a runtime over HTTP: composes the served apps (see composition.ts) and listens, the public app on
 * HOST:PORT and the metrics app on its own internal listener. Used by `clearance serve` and `clearance demo`.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { Logger } from "pino";
import { composeServedApp, type Runtime } from "./composition.ts";
import { AppError } from "./core/errors.ts";

export { createLogger } from "./composition.ts";

export interface RunningServer {
  readonly url: string;
  /** The metrics listener's URL; absent with METRICS_PORT=off. */
  readonly metricsUrl?: string;
  close(): Promise<void>;
}

export async function startServer(runtime: Runtime, logger: Logger): Promise<RunningServer> {
  const { config } = runtime;
  const served = await composeServedApp(runtime, logger);
  let server: Listener;
  let metricsServer: Listener | undefined;
  try {
    server = await listen(served.app.fetch, config.host, config.port);
    if (config.metrics) {
      try {
        metricsServer = await listen(served.metricsApp.fetch, config.metrics.host, config.metrics.port);
      } catch (error) {
        await closeListener(server);
        throw error;
      }
    }
  } catch (error) {
    await served.close();
    throw error;
  }
  const url = urlOf(server);
  const metricsUrl = metricsServer ? urlOf(metricsServer) : undefined;
  logger.info(
    {
      url,
      // Where authorization comes from; never the Permify token.
      authorizer:
        config.authz.kind === "permify"
          ? { kind: "permify", endpoint: config.authz.endpoint, tenant: config.authz.tenant }
          : { kind: "embedded" },
      embedder: runtime.embedder.model,
      chatModel: runtime.chatModel.model,
      dataDir: config.dataDir,
      metrics: metricsUrl ?? "off",
    },
    "clearance is serving",
  );
  return {
    url,
    ...(metricsUrl ? { metricsUrl } : {}),
    async close() {
      await Promise.all([closeListener(server), metricsServer ? closeListener(metricsServer) : undefined]);
      await served.close();
    },
  };
}

type Listener = ReturnType<typeof serve>;

function listen(fetch: (request: Request) => Response | Promise<Response>, host: string, port: number) {
  return new Promise<Listener>((resolve, reject) => {
    const started = serve({ fetch, hostname: host, port }, () => resolve(started));
    started.once("error", (error) =>
      reject(
        new AppError("UPSTREAM_UNAVAILABLE", `cannot listen on ${host}:${port}: ${error.message}`, {
          cause: error,
        }),
      ),
    );
  });
}

function urlOf(server: Listener): string {
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

function closeListener(server: Listener): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}
