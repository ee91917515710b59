/**
 * Serving a runtime over HTTP: composes the served app (see composition.ts) and listens. Used by
 * `clearance serve` and `clearance demo`.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { Logger } from "pino";
import { composeServedApp, type Runtime } from "./composition.ts";
import { AppError } from "./core/errors.ts";

export { createLogger } from "./composition.ts";

export interface RunningServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startServer(runtime: Runtime, logger: Logger): Promise<RunningServer> {
  const { config } = runtime;
  const served = await composeServedApp(runtime, logger);
  let server: ReturnType<typeof serve>;
  try {
    server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const started = serve({ fetch: served.app.fetch, hostname: config.host, port: config.port }, () =>
        resolve(started),
      );
      started.once("error", (error) =>
        reject(
          new AppError(
            "UPSTREAM_UNAVAILABLE",
            `cannot listen on ${config.host}:${config.port}: ${error.message}`,
            {
              cause: error,
            },
          ),
        ),
      );
    });
  } catch (error) {
    await served.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
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
    },
    "clearance is serving",
  );
  return {
    url,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await served.close();
    },
  };
}
