/**
 * The audit trail's two keys: the HMAC key of query digests and the Ed25519 key that signs checkpoints.
 * Production configures both (AUDIT_QUERY_KEY, AUDIT_CHECKPOINT_KEY_FILE). In demo mode, a query key is
 * generated once and kept in the data directory (0600); a checkpoint key likewise, which is only good
 * for a demo: whoever can rewrite the trail there can read that key too.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AppError } from "../../core/errors.ts";
import { PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE } from "../durable-files.ts";

export async function loadQueryKey(options: {
  readonly configured?: string;
  readonly dataDir: string;
}): Promise<Uint8Array> {
  if (options.configured !== undefined) return Buffer.from(options.configured, "utf8");
  return Buffer.from(
    await keptInDataDir(join(options.dataDir, "audit", "query-key"), () =>
      randomBytes(32).toString("base64url"),
    ),
    "utf8",
  );
}

export async function loadCheckpointKey(options: {
  readonly file?: string;
  /** Generate one in the data directory when no file is configured (demo mode). */
  readonly generateIn?: string;
}): Promise<KeyObject | undefined> {
  let pem: string;
  if (options.file !== undefined) {
    try {
      pem = await readFile(options.file, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new AppError(
        "BAD_REQUEST",
        `AUDIT_CHECKPOINT_KEY_FILE: cannot read ${options.file}${code ? ` (${code})` : ""}`,
        { cause: error },
      );
    }
  } else if (options.generateIn !== undefined) {
    pem = await keptInDataDir(join(options.generateIn, "audit", "checkpoint-key.pem"), () =>
      generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    );
  } else {
    return undefined;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new AppError("BAD_REQUEST", "AUDIT_CHECKPOINT_KEY_FILE: not a PEM private key", { cause: error });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new AppError("BAD_REQUEST", "AUDIT_CHECKPOINT_KEY_FILE: must be an Ed25519 private key");
  }
  return key;
}

async function keptInDataDir(path: string, create: () => string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(join(path, ".."), { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  const value = create();
  try {
    await writeFile(path, `${value}\n`, { mode: PRIVATE_FILE_MODE, flag: "wx" });
    return value;
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return (await readFile(path, "utf8")).trim();
    throw error;
  }
}
