/**
 * Permify's snap tokens, as far as clearance needs to understand them. On PostgreSQL a token is base64 of
 * `<xid8>:<snapshot>` (or of a bare 8-byte xid in older versions); the memory engine's tokens are opaque.
 */

/** The transaction id a PostgreSQL token names, or undefined when the token is not one. */
export function transactionOf(token: string): bigint | undefined {
  let decoded: Buffer;
  try {
    decoded = Buffer.from(token, "base64");
  } catch {
    return undefined;
  }
  const text = decoded.toString("latin1");
  const match = /^(\d{1,20}):/.exec(text);
  if (match) return BigInt(match[1] as string);
  if (decoded.length === 8 && !text.includes(":")) return decoded.readBigUInt64LE(0);
  return undefined;
}

/**
 * Keeps the newest of the tokens returned by this process's writes. Writes may resolve out of order; when
 * both tokens name a transaction the larger one wins, otherwise the one seen last.
 */
export class NewestSnapToken {
  private token: string | undefined;
  private transaction: bigint | undefined;

  get value(): string | undefined {
    return this.token;
  }

  observe(token: string): void {
    if (token === "") return;
    const transaction = transactionOf(token);
    if (transaction !== undefined && this.transaction !== undefined && transaction < this.transaction) return;
    this.token = token;
    this.transaction = transaction;
  }
}
