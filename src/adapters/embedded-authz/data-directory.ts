/**
 * Durable state of the embedded authorizer in the data directory:
 *   authz/schema.perm       the schema in force (replaced atomically: temp file, fsync, rename, fsync dir)
 *   authz/snapshot.json     relationships and attributes up to a revision (written the same way)
 *   authz/journal.jsonl     one line per change after the snapshot, appended and fsynced
 * Changes are stored resolved (the exact tuples and attributes written or deleted), so replay does not
 * depend on filters or on the schema. A torn last line (a crash mid-append) was never acknowledged and
 * is dropped; a damaged line anywhere else stops the load rather than guess. Files are created 0600 in a
 * 0700 directory (durable-files.ts): who may read what is nobody else's business on the host.
 */
import { closeSync, existsSync, fsyncSync, readFileSync, statSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../core/errors.ts";
import { makePrivateDirectory, openPrivateForAppend, writeAtomically } from "../durable-files.ts";

export interface Change {
  readonly revision: number;
  readonly writeTuples?: readonly string[];
  readonly writeAttributes?: readonly string[];
  readonly deleteTuples?: readonly string[];
  /** `type:id$name` */
  readonly deleteAttributes?: readonly string[];
}

export interface Snapshot {
  readonly revision: number;
  readonly tuples: readonly string[];
  readonly attributes: readonly string[];
}

const COMPACT_AFTER_CHANGES = 2_000;

export class AuthzDataDirectory {
  private readonly dir: string;
  private journalBytesRead = 0;
  private journalChanges = 0;

  constructor(root: string) {
    this.dir = join(root, "authz");
    makePrivateDirectory(this.dir);
  }

  readSchema(): string | undefined {
    const path = join(this.dir, "schema.perm");
    return existsSync(path) ? readFileSync(path, "utf8") : undefined;
  }

  writeSchema(text: string): void {
    writeAtomically(join(this.dir, "schema.perm"), text);
  }

  /**
   * Changes whenever the schema file is replaced (writes rename a new file into place), so that a process
   * notices a schema another process wrote without reading the file on every request.
   */
  schemaStamp(): string {
    const path = join(this.dir, "schema.perm");
    if (!existsSync(path)) return "none";
    const stat = statSync(path);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  }

  /** The snapshot and every change after it. */
  load(): { snapshot: Snapshot; changes: Change[] } {
    const snapshotPath = join(this.dir, "snapshot.json");
    const snapshot: Snapshot = existsSync(snapshotPath)
      ? (parseJson(readFileSync(snapshotPath, "utf8"), snapshotPath) as Snapshot)
      : { revision: 0, tuples: [], attributes: [] };
    this.journalBytesRead = 0;
    this.journalChanges = 0;
    this.dropTornTail();
    const changes = this.readNewChanges().filter((change) => change.revision > snapshot.revision);
    return { snapshot, changes };
  }

  /**
   * Changes appended since the last read, by this process or another one (a CLI `grant` next to a
   * running server). Returns undefined when the journal was compacted by someone else: reload then.
   */
  readNewChanges(): Change[] {
    const path = this.journalPath;
    if (!existsSync(path)) return [];
    const size = statSync(path).size;
    if (size < this.journalBytesRead) throw new JournalRewritten();
    if (size === this.journalBytesRead) return [];
    const buffer = readFileSync(path);
    const text = buffer.subarray(this.journalBytesRead).toString("utf8");
    // The last element is "" after a final newline, or an unterminated line: either way not a change.
    const complete = text.split("\n").slice(0, -1);
    const changes: Change[] = [];
    let consumed = 0;
    for (const line of complete) {
      consumed += Buffer.byteLength(line, "utf8") + 1;
      if (line.trim() === "") continue;
      changes.push(parseJson(line, path) as Change);
    }
    // An unterminated last line is an append in progress or torn by a crash: never acknowledged.
    this.journalBytesRead += consumed;
    this.journalChanges += changes.length;
    return changes;
  }

  /**
   * A crash mid-append leaves an unterminated last line: a write that was never acknowledged. It is cut
   * off when the journal is opened, or the next append would run on from it into a damaged line.
   */
  private dropTornTail(): void {
    const path = this.journalPath;
    if (!existsSync(path)) return;
    const bytes = readFileSync(path);
    if (bytes.length === 0 || bytes[bytes.length - 1] === 0x0a) return;
    truncateSync(path, bytes.lastIndexOf(0x0a) + 1);
  }

  append(change: Change): void {
    const fd = openPrivateForAppend(this.journalPath);
    try {
      writeSync(fd, `${JSON.stringify(change)}\n`);
      fsyncSync(fd);
      this.journalBytesRead = statSync(this.journalPath).size;
      this.journalChanges++;
    } finally {
      closeSync(fd);
    }
  }

  shouldCompact(): boolean {
    return this.journalChanges >= COMPACT_AFTER_CHANGES;
  }

  /** Writes a snapshot, then empties the journal; a crash between the two only replays old changes. */
  compact(snapshot: Snapshot): void {
    writeAtomically(join(this.dir, "snapshot.json"), JSON.stringify(snapshot));
    writeAtomically(this.journalPath, "");
    this.journalBytesRead = 0;
    this.journalChanges = 0;
  }

  private get journalPath(): string {
    return join(this.dir, "journal.jsonl");
  }
}

export class JournalRewritten extends Error {}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AppError(
      "UPSTREAM_UNAVAILABLE",
      `the authorization data in ${path} is damaged; restore it or re-ingest`,
      {
        cause: error,
      },
    );
  }
}
