/**
 * Files a manifest names, read only from inside the manifest's folder. A manifest is input from a document
 * owner; without this, `path: ../secret/credentials.txt`, an absolute path, or a symbolic link inside the
 * folder that points elsewhere would publish any file the operator can read (another owner's memo, a
 * credentials file) to whoever may read the collection.
 *
 * The rule: the path, resolved against the folder and with every symbolic link followed, must lie inside
 * the folder (itself with its links followed). It is checked when the manifest is loaded, so every escape
 * is reported before anything is written, and again when the file is opened (with O_NOFOLLOW on the
 * checked path), so that a link swapped in between is not followed either. Only regular files are read
 * (not a FIFO or a device), and never more than `maxBytes`.
 */
import { constants } from "node:fs";
import { open, realpath } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../src/core/errors.ts";

export type Confined =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly why: string };

/** Where `relative` leads from `folder`, if that is inside `folder`; else why not (naming no file content). */
export async function resolveInside(folder: string, relative: string): Promise<Confined> {
  const root = await realpath(folder);
  if (path.isAbsolute(relative))
    return { ok: false, why: "is an absolute path; name files relative to the manifest" };
  const lexical = path.resolve(root, relative);
  if (!isInside(lexical, root)) return { ok: false, why: "resolves outside the manifest's folder" };
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A missing file is reported when it is read (a per-document failure); nothing to follow yet.
    if (code === "ENOENT" || code === "ENOTDIR") return { ok: true, path: lexical };
    return { ok: false, why: `cannot be resolved (${code ?? "unknown error"})` };
  }
  if (!isInside(real, root)) {
    return { ok: false, why: "resolves outside the manifest's folder through a symbolic link" };
  }
  return { ok: true, path: real };
}

function isInside(candidate: string, root: string): boolean {
  return candidate.startsWith(root.endsWith(path.sep) ? root : `${root}${path.sep}`);
}

/**
 * Reads a file named by a manifest: confined to `folder` again at the moment of opening, a regular file,
 * at most `maxBytes`. Errors are `BAD_REQUEST` starting with `name` and never carry the file's content.
 */
export async function readConfinedFile(
  folder: string,
  relative: string,
  name: string,
  maxBytes: number,
): Promise<Buffer> {
  const confined = await resolveInside(folder, relative);
  if (!confined.ok) throw new AppError("BAD_REQUEST", `${name}: ${confined.why}`);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NOFOLLOW: the checked path has no link left in it; one put there since is refused, not followed.
    handle = await open(confined.path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new AppError("BAD_REQUEST", `${name}: cannot read the file (${describeIoError(error)})`, {
      cause: error,
    });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new AppError("BAD_REQUEST", `${name}: not a regular file`);
    if (stat.size > maxBytes) {
      throw new AppError(
        "PAYLOAD_TOO_LARGE",
        `${name}: the file is ${stat.size} bytes, more than the limit of ${maxBytes} (INGEST_MAX_FILE_BYTES)`,
      );
    }
    // Read at most one byte past the limit: a file that grew after the check is still caught.
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
    let read = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
      if (read === buffer.length) break;
    }
    if (read > maxBytes) {
      throw new AppError(
        "PAYLOAD_TOO_LARGE",
        `${name}: the file is more than the limit of ${maxBytes} bytes (INGEST_MAX_FILE_BYTES)`,
      );
    }
    return buffer.subarray(0, read);
  } finally {
    await handle.close();
  }
}

export function describeIoError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EISDIR") return "it is a directory";
  if (code === "EACCES") return "permission denied";
  if (code === "ELOOP") return "it is a symbolic link";
  return code ?? "unknown error";
}
