/**
 * Free TCP ports for servers that tests start themselves. The kernel picks each port (bind to port 0); the
 * socket is closed before the port is returned, so another process can still take it before the server
 * binds. Callers that start servers retry on "address already in use" for that reason.
 */
import { createServer, type Server } from "node:net";

const LOOPBACK = "127.0.0.1";

function listenOnAnyPort(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ port: 0, host, exclusive: true }, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** One free port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error("no free port");
  return port;
}

/**
 * `count` distinct free ports on 127.0.0.1. All sockets stay open until every port is chosen, so the
 * kernel cannot hand out the same port twice within one call.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listenOnAnyPort(LOOPBACK));
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("expected a TCP address");
      return address.port;
    });
  } finally {
    await Promise.all(servers.map(close));
  }
}
