/**
 * `clearance token --sub <user> [--act <agent>]... [--ttl 15m]`: prints a demo token signed with the key in
 * the data directory, alone on the last line, so that `$(clearance token --sub maria | tail -1)` works.
 * Only with AUTH_MODE=demo, which the configuration refuses off loopback and under NODE_ENV=production.
 */
import { parseArgs } from "node:util";
import { loadDemoIdentity } from "../adapters/demo-identity/demo-identity.ts";
import { loadConfig, processEnvironment } from "../config.ts";
import { SCOPES } from "../core/scopes.ts";
import { type CliCommand, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, errorMessage } from "./command.ts";

const usage = "token --sub <user> [--act <agent>]... [--scope <scope>]... [--ttl 15m]";
const ID = /^[A-Za-z0-9_\-@.:+]{1,128}$/;
const TTL = /^(\d+)([smh])$/;
const MAX_TTL_SECONDS = 24 * 60 * 60;

export const tokenCommand: CliCommand = {
  name: "token",
  summary: "print a demo token for a user, optionally with agents acting for them",
  usage,
  async run(args, deps) {
    const { io } = deps;
    const parsed = parseTokenArgs(args);
    if ("help" in parsed) {
      io.stdout(`usage: clearance ${usage}`);
      io.stdout("  --sub <user>    the user the token is for (the Permify subject user:<id>)");
      io.stdout("  --act <agent>   an agent acting for the user; repeat for a chain, current actor first");
      io.stdout("  --ttl <n>s|m|h  lifetime (default 15m, at most 24h)");
      io.stdout(
        "  --scope <s>     a scope the token carries (repeat; default: none, so AUTH_DEFAULT_SCOPES apply)",
      );
      return EXIT_OK;
    }
    if ("problem" in parsed) {
      io.stderr(`clearance token: ${parsed.problem}`);
      io.stderr(`usage: clearance ${usage}`);
      return EXIT_USAGE;
    }
    try {
      const config = loadConfig(deps.env ?? processEnvironment());
      if (config.auth.mode !== "demo") {
        // Demo tokens exist only where demo identity was asked for in so many words.
        io.stderr(
          config.auth.mode === "issuer"
            ? "clearance token: AUTH_ISSUER is set, so tokens come from that issuer; demo tokens are refused"
            : "clearance token: demo tokens need AUTH_MODE=demo (demo identity, on this machine only)",
        );
        return EXIT_FAILURE;
      }
      const max = config.auth.maxTokenLifetimeSeconds;
      if (max > 0 && parsed.ttlSeconds > max) {
        io.stderr(`clearance token: --ttl exceeds AUTH_MAX_TOKEN_LIFETIME_SECONDS (${max})`);
        return EXIT_USAGE;
      }
      const identity = await loadDemoIdentity(config.dataDir);
      const token = await identity.sign({
        sub: parsed.sub,
        agentIds: parsed.agents,
        audience: config.auth.audience,
        ttlSeconds: parsed.ttlSeconds,
        ...(parsed.scopes.length === 0 ? {} : { scope: parsed.scopes.join(" ") }),
      });
      io.stdout(token);
      return EXIT_OK;
    } catch (error) {
      io.stderr(`clearance token: ${errorMessage(error)}`);
      return EXIT_FAILURE;
    }
  },
};

type TokenArgs =
  | { sub: string; agents: string[]; ttlSeconds: number; scopes: string[] }
  | { problem: string }
  | { help: true };

function parseTokenArgs(args: readonly string[]): TokenArgs {
  let values: { sub?: string; act?: string[]; ttl?: string; scope?: string[]; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        sub: { type: "string" },
        act: { type: "string", multiple: true },
        ttl: { type: "string" },
        scope: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    return { problem: errorMessage(error) };
  }
  if (values.help) return { help: true };
  if (values.sub === undefined) return { problem: "missing --sub <user>" };
  for (const id of [values.sub, ...(values.act ?? [])]) {
    if (!ID.test(id))
      return { problem: `"${id}" is not a valid id (letters, digits and _-@.:+, at most 128)` };
  }
  const ttl = TTL.exec(values.ttl ?? "15m");
  const ttlSeconds = ttl ? Number(ttl[1]) * { s: 1, m: 60, h: 3600 }[ttl[2] as "s" | "m" | "h"] : Number.NaN;
  if (!(ttlSeconds >= 1 && ttlSeconds <= MAX_TTL_SECONDS)) {
    return { problem: `--ttl must be like 30s, 15m or 2h, at most 24h; got "${values.ttl}"` };
  }
  const unknown = (values.scope ?? []).filter((scope) => !(SCOPES as readonly string[]).includes(scope));
  if (unknown.length > 0)
    return { problem: `unknown scope ${unknown.join(", ")} (known: ${SCOPES.join(", ")})` };
  return { sub: values.sub, agents: values.act ?? [], ttlSeconds, scopes: values.scope ?? [] };
}
